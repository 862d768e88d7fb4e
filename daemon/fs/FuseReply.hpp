// FuseReply: what the read-only and the writable filesystems share in answering a request — the
// spliced read reply and the path a failed request is logged under.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace megafuse::fs {

// Replies to a read with up to size bytes of fd at off. libfuse splices them from the fd to
// /dev/fuse (FUSE_CAP_SPLICE_WRITE): the bytes never enter this process. Short files give short
// replies; a failed read replies its errno itself. Inline: it is the read path.
inline void replyReadFromFd(fuse_req_t req, int fd, size_t size, off_t off) {
    fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = fd;
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, static_cast<fuse_buf_copy_flags>(0));
}

// "/a/b" for log lines: the inode's mount-relative path ("" for the root), then the entry name
// an operation on a directory entry (lookup, mkdir…) names, if any.
inline std::string requestPath(const std::string& inodePath, const char* name) {
    std::string path = "/" + inodePath;
    if (name != nullptr) {
        path += path.size() > 1 ? "/" : "";
        path += name;
    }
    return path;
}

}  // namespace megafuse::fs
