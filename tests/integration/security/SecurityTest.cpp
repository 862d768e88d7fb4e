// SecurityTest: issue 7's security promises checked on the real daemon, on a real bus, with real
// servers. Credentials (a Mega token, a password in a Git URL) appear in no output a user or
// another program can see; the daemon's folders are 0700 and hold no world-readable copy of
// content; on a bus that lets anyone connect, another user's calls are refused; a mountpoint
// that is a symbolic link is refused.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "ServiceFixture.hpp"
#include "common/Subprocess.hpp"
#include "support/Git.hpp"
#include "support/HttpGitServer.hpp"
#include "support/MegaStandIn.hpp"
#include "support/Mounts.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kToken = "mega-t0ken-never-shown";
constexpr const char* kPassword = "hunter2-never-shown";
constexpr const char* kOtherUser = "megafuse-test";  // as tests/unprivileged/run-as-user.sh

class SecurityTest : public ServiceFixture {
protected:
    void TearDown() override {
        ServiceFixture::TearDown();  // the daemon first: it unmounts while the servers still run
        http_.reset();
        mega_.reset();
        servers_.reset();
    }

    [[nodiscard]] fs::path cacheDir() const { return *temp_ / "cache"; }
    [[nodiscard]] fs::path stateDir() const { return *temp_ / "state"; }

    [[nodiscard]] std::string header() const {
        return "cache_dir: \"" + cacheDir().string() + "\"\nstate_dir: \"" + stateDir().string() +
               "\"\nlog_level: debug\nmounts:\n";
    }

    std::string mountEntry(const std::string& name, const std::string& source,
                           const std::string& extra = "") {
        fs::create_directories(mountpointOf(name));
        return "  - name: " + name + "\n    source: " + source + "\n    mountpoint: \"" +
               mountpointOf(name).string() + "\"\n" + extra;
    }

    // Smart HTTP over a bare copy of the sample repository, reached with a password in the URL.
    std::string httpUrlWithPassword() {
        if (!http_) {
            ensureServers();
            publishBare(repoDir(), servers_->path() / "http" / "sample.git");
            http_ = std::make_unique<HttpGitServer>(servers_->path() / "http",
                                                    servers_->makeDir("lighttpd"));
        }
        return "http://reader:" + std::string(kPassword) +
               "@127.0.0.1:" + std::to_string(http_->port()) + "/git/sample.git";
    }

    // A Mega source that needs kToken, from a 0600 token file.
    std::string megaSource() {
        if (!mega_) {
            ensureServers();
            mega_ = std::make_unique<MegaStandIn>(repoDir(), servers_->path() / "standin", "main");
            mega_->requireToken(kToken);
        }
        const fs::path token = servers_->path() / "token";
        std::ofstream(token) << kToken << "\n";
        ::chmod(token.c_str(), 0600);
        return "{mega: \"" + mega_->baseUrl() + R"(", path: "/", token_file: ")" + token.string() +
               "\"}";
    }

    SubprocessResult megactl(const std::vector<std::string>& args) {
        std::vector<std::string> argv{MEGACTL_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        SubprocessOptions options;
        options.extraEnvironment = {{"DBUS_SESSION_BUS_ADDRESS", address()}};
        return runSubprocess(argv, options);
    }

    // Every string property of every object, as GetManagedObjects returns them.
    std::string managedStrings() {
        std::string text;
        for (const auto& [path, interfaces] : manager().GetManagedObjects()) {
            text += std::string(path) + "\n";
            for (const auto& [interface, properties] : interfaces) {
                for (const auto& [name, value] : properties) {
                    if (value.containsValueOfType<std::string>()) {
                        text += name + "=" + value.get<std::string>() + "\n";
                    }
                }
            }
        }
        return text;
    }

    // What ListMounts returns, its strings joined.
    std::string listedStrings() {
        std::string text;
        for (const auto& row : manager().ListMounts()) {
            text += std::get<1>(row) + " " + std::get<2>(row) + " " + std::get<3>(row) + " " +
                    std::get<5>(row) + " " + std::get<6>(row) + " " + std::get<10>(row) + " " +
                    std::get<11>(row) + "\n";
        }
        return text;
    }

    std::unique_ptr<TempDir> servers_;
    std::unique_ptr<HttpGitServer> http_;
    std::unique_ptr<MegaStandIn> mega_;

private:
    void ensureServers() {
        if (!servers_) {
            servers_ = std::make_unique<TempDir>("megafuse-sec-srv");
        }
    }
};

void expectNoSecret(const std::string& where, const std::string& text) {
    EXPECT_EQ(text.find(kPassword), std::string::npos) << where << " shows the password:\n" << text;
    EXPECT_EQ(text.find(kToken), std::string::npos) << where << " shows the token:\n" << text;
}

TEST_F(SecurityTest, CredentialsAppearInNoLogOutputOrProperty) {
    const std::string withPassword = httpUrlWithPassword();
    const std::string deadWithPassword =
        "http://reader:" + std::string(kPassword) + "@127.0.0.1:1/git/none.git";
    writeRawConfig(header() +
                   mountEntry("web", "\"" + withPassword + "\"", "    revision: main\n") +
                   mountEntry("mega", megaSource()) +
                   mountEntry("dead", "\"" + deadWithPassword + "\"", "    revision: main\n"));
    startDaemon();
    ASSERT_TRUE(waitForState("web", "mounted")) << daemonLog();
    ASSERT_TRUE(waitForState("mega", "mounted")) << daemonLog();
    ASSERT_TRUE(waitForState("dead", "failed")) << daemonLog();
    // Reads that fetch: blob requests carry the credentials and must not log them.
    EXPECT_EQ(readFile(mountpointOf("web") / "dir" / "a.txt"), "file a\n");
    EXPECT_EQ(readFile(mountpointOf("mega") / "hello.txt"), "hello from main\n");

    // An ad-hoc mount with a password, through megactl, and one that fails at once.
    fs::create_directories(mountpointOf("adhoc"));
    const SubprocessResult added =
        megactl({"mount", withPassword, mountpointOf("adhoc").string(), "--rev", "main"});
    EXPECT_TRUE(added.ok()) << added.describe();
    fs::create_directories(mountpointOf("adhocdead"));
    const SubprocessResult failed =
        megactl({"mount", deadWithPassword, mountpointOf("adhocdead").string()});
    EXPECT_FALSE(failed.ok());

    const std::string lastError = mountClient("dead")->LastError();
    EXPECT_NE(lastError.find("127.0.0.1:1"), std::string::npos) << lastError;
    expectNoSecret("LastError of a failed mount", lastError);
    expectNoSecret("megactl mount (failed)", failed.out + failed.err);
    expectNoSecret("megactl mount", added.out + added.err);
    expectNoSecret("GetManagedObjects", managedStrings());
    expectNoSecret("ListMounts", listedStrings());
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"list"},
                                               {"--json", "list"},
                                               {"status"},
                                               {"--json", "status"},
                                               {"status", "web"},
                                               {"--json", "status", "web"},
                                               {"status", "dead"},
                                               {"--json", "status", "dead"},
                                               {"status", "mega"},
                                               {"stats", "mega"},
                                               {"doctor", "--config", configFile().string()}}) {
        const SubprocessResult shown = megactl(args);
        std::string command = "megactl";
        for (const auto& arg : args) {
            command += " " + arg;
        }
        expectNoSecret(command, shown.out + shown.err);
    }
    // The password is redacted, not the whole source: the user still sees which server.
    EXPECT_NE(mountClient("web")->Source().find("reader:***@127.0.0.1"), std::string::npos)
        << mountClient("web")->Source();
    EXPECT_EQ(stopDaemon(), 0);
    expectNoSecret("the daemon's log", daemonLog());
    // The log does name the sources (so the checks above looked at text that had them).
    EXPECT_NE(daemonLog().find("reader:***@127.0.0.1"), std::string::npos);
}

// Permission bits of path, or -1 when lstat fails.
int modeOf(const fs::path& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
}

// Everything below dir that others may read, write or enter: `find dir -perm /o+rwx`.
std::vector<std::string> openToOthers(const fs::path& dir) {
    std::vector<std::string> found;
    for (const auto& item : fs::recursive_directory_iterator(dir)) {
        const int mode = modeOf(item.path());
        if (!item.is_symlink() && mode >= 0 && (mode & 07) != 0) {
            std::ostringstream line;  // as `%04o`: the mode in four octal digits
            line << std::oct << std::setw(4) << std::setfill('0') << mode << " "
                 << item.path().string();
            found.push_back(line.str());
        }
    }
    return found;
}

TEST_F(SecurityTest, FoldersAre0700AndNoContentIsWorldReadable) {
    writeRawConfig(header() + mountEntry("remote", "\"" + gitUrl() + "\"", "    revision: main\n") +
                   mountEntry("work", "\"" + repoDir().string() + "\"",
                              "    revision: main\n    writable: true\n"));
    startDaemon();
    ASSERT_TRUE(waitForState("remote", "mounted")) << daemonLog();
    ASSERT_TRUE(waitForState("work", "mounted")) << daemonLog();
    // Content in every place the daemon keeps it: a fetched blob in the content cache, a
    // copied-up and a new file in the overlay.
    EXPECT_EQ(readFile(mountpointOf("remote") / "hello.txt"), "hello from main\n");
    std::ofstream(mountpointOf("work") / "hello.txt", std::ios::app) << "changed\n";
    std::ofstream(mountpointOf("work") / "new.txt") << "new file\n";
    EXPECT_EQ(readFile(mountpointOf("work") / "new.txt"), "new file\n");
    EXPECT_EQ(stopDaemon(), 0);

    for (const fs::path& dir : {cacheDir(), stateDir(), stateDir() / "overlays" / "work"}) {
        EXPECT_EQ(modeOf(dir), 0700) << dir;
        const auto open = openToOthers(dir);
        EXPECT_TRUE(open.empty()) << dir << " has entries open to others:\n"
                                  << ::testing::PrintToString(open);
    }
}

// A bus that lets every user connect (the policy a shared or system-wide bus might have): the
// daemon itself must refuse calls from anyone but its own user.
bool userExists(const char* name) {
    struct passwd entry {};
    struct passwd* found = nullptr;
    std::vector<char> buffer(16384);
    return ::getpwnam_r(name, &entry, buffer.data(), buffer.size(), &found) == 0 &&
           found != nullptr;
}

class OtherUserTest : public SecurityTest {
protected:
    void SetUp() override {
        SecurityTest::SetUp();
        ASSERT_EQ(::geteuid(), 0U) << "switching to another uid needs root";
        ASSERT_TRUE(userExists(kOtherUser))
            << kOtherUser << " is missing; tests/unprivileged/run-as-user.sh creates it";
        // An abstract socket: reachable by every user, unlike a file in the 0700 temp folder.
        const std::string address = "unix:abstract=" + temp_->path().filename().string() + "-open";
        const fs::path config = *temp_ / "open-bus.conf";
        std::ofstream(config)
            << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration "
               "1.0//EN\"\n"
               " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig>\n"
               "  <type>session</type>\n"
               "  <listen>"
            << address
            << "</listen>\n"
               "  <auth>EXTERNAL</auth>\n"
               "  <policy context=\"default\">\n"
               "    <allow user=\"*\"/>\n"
               "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
               "    <allow eavesdrop=\"true\"/>\n"
               "    <allow own=\"*\"/>\n"
               "  </policy>\n"
               "</busconfig>\n";
        bus_ = std::make_unique<PrivateBus>(address, config);
    }

    // gdbus as the other user; its output names the D-Bus error.
    SubprocessResult callAsOtherUser(const std::string& objectPath, const std::string& method,
                                     const std::vector<std::string>& args = {}) {
        std::vector<std::string> argv{"setpriv",
                                      std::string("--reuid=") + kOtherUser,
                                      std::string("--regid=") + kOtherUser,
                                      "--init-groups",
                                      "gdbus",
                                      "call",
                                      "--address",
                                      address(),
                                      "--dest",
                                      "com.gitmega.MegaFuse1",
                                      "--object-path",
                                      objectPath,
                                      "--method",
                                      method};
        argv.insert(argv.end(), args.begin(), args.end());
        return runSubprocess(argv);
    }
};

TEST_F(OtherUserTest, CallsFromAnotherUserAreRefused) {
    writeConfig({{"alpha", repoDir().string(), "main", true}});
    startDaemon();
    ASSERT_TRUE(waitForState("alpha", "mounted")) << daemonLog();
    const std::string root = "/com/gitmega/MegaFuse1";
    const std::string alpha = mountPath("alpha");
    const std::string denied = "org.freedesktop.DBus.Error.AccessDenied";
    struct Case {
        std::string path;
        std::string method;
        std::vector<std::string> args;
    };
    const std::vector<Case> cases = {
        {root, "com.gitmega.MegaFuse1.Manager.ListMounts", {}},
        {root, "com.gitmega.MegaFuse1.Manager.ResolveMount", {"alpha"}},
        {root, "com.gitmega.MegaFuse1.Manager.Reload", {}},
        {root,
         "com.gitmega.MegaFuse1.Manager.AddMount",
         {"{'name': <'evil'>, 'source': <'" + repoDir().string() + "'>, 'mountpoint': <'" +
          mountpointOf("alpha").string() + "'>}"}},
        {root, "com.gitmega.MegaFuse1.Manager.RemoveMount", {"alpha", "{}"}},
        {alpha, "com.gitmega.MegaFuse1.Mount.Unmount", {"{'force': <true>}"}},
        {alpha, "com.gitmega.MegaFuse1.Mount.Mount", {"{}"}},
        {alpha, "com.gitmega.MegaFuse1.Mount.Prefetch", {"[]", "{}"}},
    };
    for (const auto& c : cases) {
        const SubprocessResult result = callAsOtherUser(c.path, c.method, c.args);
        EXPECT_FALSE(result.ok()) << c.method << " was answered: " << result.out;
        EXPECT_NE(result.err.find(denied), std::string::npos) << c.method << ": " << result.err;
    }
    // Nothing changed, and the owner is still served (on the same open bus).
    EXPECT_EQ(stateOf("alpha"), "mounted");
    EXPECT_EQ(manager().ListMounts().size(), 1U);
    EXPECT_EQ(readFile(mountpointOf("alpha") / "hello.txt"), "hello from main\n");
}

TEST_F(SecurityTest, AMountpointThatIsASymlinkIsRefused) {
    writeConfig({{"linked", repoDir().string(), "main", true}});
    // The configured mountpoint becomes a link to a real folder before the daemon starts.
    const fs::path target = temp_->makeDir("real-folder");
    fs::remove(mountpointOf("linked"));
    fs::create_directory_symlink(target, mountpointOf("linked"));
    startDaemon();
    ASSERT_TRUE(waitForState("linked", "failed")) << daemonLog();
    const std::string lastError = mountClient("linked")->LastError();
    EXPECT_NE(lastError.find("is a symbolic link"), std::string::npos) << lastError;
    EXPECT_NE(lastError.find(target.string()), std::string::npos) << lastError;
    EXPECT_TRUE(mountsBelow(target).empty());

    // The same through AddMount: InvalidArgs, nothing mounted.
    const fs::path link = *temp_ / "mnt" / "adhoc-link";
    fs::create_directory_symlink(target, link);
    const SubprocessResult added = megactl({"mount", repoDir().string(), link.string()});
    EXPECT_FALSE(added.ok());
    EXPECT_NE(added.err.find("is a symbolic link"), std::string::npos) << added.err;
    EXPECT_TRUE(mountsBelow(target).empty());
    EXPECT_EQ(manager().ListMounts().size(), 1U);
}

}  // namespace
}  // namespace megafuse::test
