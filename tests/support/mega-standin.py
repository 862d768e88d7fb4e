#!/usr/bin/env python3
"""mega-standin: a STAND-IN for a Mega monorepo server, for tests only.

No Mega server can run on the test machines, so this small server was written from Mega's
published REST API (the endpoints its FUSE client Scorpio uses) and serves the objects of a real
Git repository through one long-lived `git cat-file --batch`. It is not Mega and implements only
what mega-fuse asks for:

  GET  /api/v1/file/tree?path=/a/b[&oid=ID]  raw Git tree object (empty body: no such path)
  GET  /api/v1/file/blob/ID                   raw blob bytes (404 when missing); HEAD; Range
  GET  /api/v1/tree/content-hash?path=/a/b    {"req_result", "data": [{name, content_type, oid}]}
  GET  /api/v1/tree/dir-hash?path=/a/b        the same shape, for b's entry in its parent
  GET  /api/v1/latest-commit?path=/p          {oid, short_message, author, committer, date}
  GET/POST {path}.git/...                     Git smart HTTP (fetch, push) through `git
                                              http-backend` over the same repository, when it is
                                              served as a path (--path /p; not the root)

Test-only endpoints (never part of Mega's API):

  GET  /_standin/stats    {"counts": {endpoint: n}, "tree_paths": [...], "blob_ids": [...],
                           "authorization": [...every Authorization header seen...],
                           "pushed_objects": [object count of each pack pushed]}
  POST /_standin/control  JSON: {"fault": "none"|"slow"|"garbage"|"wrong-bytes"|"not-found",
                          "delay": seconds, "ref": "<rev the repository is served at>",
                          "token": "<required bearer token or null>", "reset": true,
                          "fail_next": n (the next n API requests answer 503)}

Usage: mega-standin.py --repo PATH [--ref REV] [--path /p] [--port N]
  (prints "PORT <n>" once listening). --path: the Mega path the repository's root is served as
  (default "/": the repository is the whole monorepo).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Objects:
    """Objects of one repository through `git cat-file --batch`, one request at a time."""

    def __init__(self, repo):
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["git", "-C", repo, "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read(self, name):
        """(type, bytes, id) of an object name such as an id or "rev:path"; None if missing."""
        if "\n" in name:
            return None
        with self.lock:
            self.proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            self.proc.stdin.flush()
            header = self.proc.stdout.readline().decode()
            parts = header.split()
            if len(parts) != 3:
                return None  # "<name> missing" / "ambiguous"
            oid, kind, size = parts[0], parts[1], int(parts[2])
            data = self.proc.stdout.read(size)
            self.proc.stdout.read(1)  # the newline after the contents
            return kind, data, oid


class State:
    def __init__(self, objects, ref, repo, prefix):
        self.objects = objects
        self.repo = repo
        self.prefix = prefix.rstrip("/")  # "" when the repository is the monorepo's root
        self.lock = threading.Lock()
        self.ref = ref
        self.fault = "none"
        self.delay = 0.0
        self.token = None
        self.fail_next = 0
        self.reset()

    def reset(self):
        self.counts = {}
        self.tree_paths = []
        self.blob_ids = []
        self.authorization = []
        self.pushed_objects = []


def rel(path, prefix=""):
    """Mega paths are absolute ("/p/a/b"); git wants "a/b" after "rev:" (None: not served)."""
    if prefix:
        if path.rstrip("/") != prefix and not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix):]
    return path.strip("/")


def dechunk(stream):
    """The body of a request sent with Transfer-Encoding: chunked."""
    body = b""
    while True:
        size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            stream.readline()
            return body
        body += stream.read(size)
        stream.readline()


def pack_object_count(body):
    """Objects in the pack a receive-pack request carries (after its pkt-line commands)."""
    at = body.find(b"PACK")
    if at < 0 or len(body) < at + 12:
        return 0
    return int.from_bytes(body[at + 8:at + 12], "big")


def tree_entries(data):
    entries, pos = [], 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        mode = data[pos:space].decode()
        name = data[space + 1:nul].decode("utf-8", "surrogateescape")
        oid = data[nul + 1:nul + 21].hex()
        entries.append((mode, name, oid))
        pos = nul + 21
    return entries


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: tests read stats, not logs
            pass

        def reply(self, status, body=b"", ctype="application/octet-stream", length=None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def reply_json(self, value, status=200):
            self.reply(status, json.dumps(value).encode(), "application/json")

        def count(self, endpoint):
            with state.lock:
                state.counts[endpoint] = state.counts.get(endpoint, 0) + 1
                state.authorization.append(self.headers.get("Authorization"))

        def do_HEAD(self):
            self.do_GET()

        def git_http(self, url):
            """Git's smart HTTP through `git http-backend` (CGI) over the served repository."""
            endpoint = "/git" + url.path[len(state.prefix) + 4:]
            self.count(endpoint)
            with state.lock:
                token = state.token
            if token is not None and self.headers.get("Authorization") != "Bearer " + token:
                return self.reply(401, b"unauthorized", "text/plain")
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = dechunk(self.rfile)
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if endpoint == "/git/git-receive-pack":
                with state.lock:
                    state.pushed_objects.append(pack_object_count(body))
            env = dict(os.environ, GIT_PROJECT_ROOT=state.repo, GIT_HTTP_EXPORT_ALL="1",
                       PATH_INFO=url.path[len(state.prefix) + 4:], QUERY_STRING=url.query,
                       REQUEST_METHOD=self.command, REMOTE_ADDR="127.0.0.1",
                       CONTENT_TYPE=self.headers.get("Content-Type", ""),
                       CONTENT_LENGTH=str(len(body)),
                       HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""),
                       HTTP_GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
            out = subprocess.run(["git", "http-backend"], input=body, env=env,
                                 stdout=subprocess.PIPE, check=False).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = out.partition(b"\n\n")
            status, ctype, extra = 200, "application/octet-stream", []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name.lower() == "content-type":
                    ctype = value.strip()
                elif name.lower() not in ("content-length",):
                    extra.append((name, value.strip()))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            return None

        def is_git(self, url):
            return state.prefix and url.path.startswith(state.prefix + ".git/")

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            if self.is_git(url):
                return self.git_http(url)
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if url.path != "/_standin/control":
                return self.reply(404)
            with state.lock:
                if body.get("reset"):
                    state.reset()
                if "fault" in body:
                    state.fault = body["fault"]
                if "delay" in body:
                    state.delay = float(body["delay"])
                if "ref" in body:
                    state.ref = body["ref"]
                if "token" in body:
                    state.token = body["token"]
                if "fail_next" in body:
                    state.fail_next = int(body["fail_next"])
            self.reply_json({"ok": True})

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            path = query.get("path", ["/"])[0]
            if url.path == "/_standin/stats":
                with state.lock:
                    return self.reply_json({"counts": state.counts,
                                            "tree_paths": state.tree_paths,
                                            "blob_ids": state.blob_ids,
                                            "authorization": state.authorization,
                                            "pushed_objects": state.pushed_objects})
            if self.is_git(url):
                return self.git_http(url)
            endpoint = url.path
            if endpoint.startswith("/api/v1/file/blob/"):
                endpoint = "/api/v1/file/blob" + ("(HEAD)" if self.command == "HEAD" else "")
            self.count(endpoint)
            with state.lock:
                fault, delay, ref, token = state.fault, state.delay, state.ref, state.token
                failing = state.fail_next > 0
                state.fail_next = max(state.fail_next - 1, 0)
            if failing:
                return self.reply(503, b"try again", "text/plain")
            if token is not None and self.headers.get("Authorization") != "Bearer " + token:
                return self.reply(401, b"unauthorized", "text/plain")
            if fault == "slow":
                time.sleep(delay)
            if fault == "not-found":
                return self.reply(404, b"not found", "text/plain")
            objects = state.objects

            if url.path == "/api/v1/file/tree":
                with state.lock:
                    state.tree_paths.append(path)
                oid = query.get("oid", [None])[0]
                obj = objects.read(oid) if oid else None
                if obj is None and rel(path, state.prefix) is not None:
                    obj = objects.read(ref + ":" + rel(path, state.prefix))
                if obj is None or obj[0] != "tree":
                    return self.reply(200, b"")  # Mega: empty body when not found
                data = obj[1]
                if fault == "garbage":
                    data = data[: len(data) // 2] + b"\x01garbage"
                elif fault == "wrong-bytes":
                    data = data + b"100644 extra\0" + b"\x11" * 20
                return self.reply(200, data)

            if url.path.startswith("/api/v1/file/blob/"):
                oid = url.path.rsplit("/", 1)[1]
                obj = objects.read(oid) if len(oid) == 40 else None
                if obj is None or obj[0] != "blob":
                    return self.reply(404, b"not found", "text/plain")
                data = obj[1]
                if self.command == "GET":
                    with state.lock:
                        state.blob_ids.append(oid)
                if fault == "wrong-bytes":
                    data = data + b"!"
                elif fault == "garbage":
                    data = b"garbage"
                status = 200
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    first, _, last = rng[6:].partition("-")
                    first = int(first or 0)
                    last = int(last) if last else len(data) - 1
                    data = data[first:last + 1]
                    status = 206
                return self.reply(status, data)

            if url.path in ("/api/v1/tree/content-hash", "/api/v1/tree/dir-hash"):
                listed = path if url.path.endswith("content-hash") else path.rsplit("/", 1)[0]
                if state.prefix and url.path.endswith("dir-hash") and path == state.prefix:
                    # The served path's own entry: its parent is not in the repository.
                    obj = objects.read(ref + "^{tree}")
                    obj = obj and ("tree", b"40000 " + path.rsplit("/", 1)[1].encode() + b"\0" +
                                   bytes.fromhex(obj[2]), obj[2])
                else:
                    listed = rel(listed, state.prefix)
                    obj = objects.read(ref + ":" + listed) if listed is not None else None
                if obj is None or obj[0] != "tree":
                    return self.reply_json({"req_result": False, "data": [],
                                            "err_message": "Path not found"})
                items = []
                for mode, name, oid in tree_entries(obj[1]):
                    if url.path.endswith("dir-hash") and name != path.rsplit("/", 1)[1]:
                        continue
                    items.append({"name": name, "oid": oid,
                                  "content_type": "directory" if mode == "40000" else "file"})
                if fault == "garbage":
                    return self.reply(200, b"{\"req_result\": tru", "application/json")
                return self.reply_json({"req_result": True, "data": items, "err_message": ""})

            if url.path == "/api/v1/latest-commit":
                obj = objects.read(ref + "^{commit}")
                if obj is None:
                    return self.reply_json({"req_result": False, "data": None,
                                            "err_message": "no commit"})
                if fault == "garbage":
                    return self.reply(200, b"<html>oops</html>", "text/html")
                lines = obj[1].decode("utf-8", "replace").split("\n")
                committer = next(line for line in lines if line.startswith("committer "))
                date = int(committer.split()[-2])
                message = lines[lines.index("") + 1] if "" in lines else ""
                who = {"display_name": committer.split(" <")[0][10:], "avatar_url": ""}
                return self.reply_json({"oid": obj[2], "short_message": message,
                                        "author": who, "committer": who, "date": date})

            return self.reply(404, b"no such endpoint", "text/plain")

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="/")
    args = parser.parse_args()
    repo = os.path.abspath(args.repo)
    if args.path != "/":
        # Pushes over smart HTTP with no user, fetches of one commit by id, filtered fetches.
        for key in ("http.receivepack", "uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
            subprocess.run(["git", "-C", repo, "config", key, "true"], check=True)
    state = State(Objects(repo), args.ref, repo, args.path)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
