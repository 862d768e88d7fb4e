// ConfigLoader: a table of bad inputs, each with the exact messages a user will read (position,
// key, wording), then good inputs and the values they load to, file reading and the built-in
// default.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "TestEnvironment.hpp"
#include "config/ConfigLoader.hpp"

namespace megafuse::config {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// --- bad inputs ------------------------------------------------------------------------------

struct BadCase {
    const char* name;  // test name suffix
    std::string yaml;
    std::vector<std::string> expected;  // ConfigIssue::format() of every issue, in order
};

// Names the case in gtest's output instead of dumping its bytes (gtest looks for this name).
// NOLINTNEXTLINE(readability-identifier-naming): GoogleTest's customization point.
void PrintTo(const BadCase& c, std::ostream* os) {
    *os << c.name;
}

std::vector<std::string> formatted(const ConfigError& error) {
    std::vector<std::string> lines;
    for (const auto& issue : error.issues()) {
        lines.push_back(issue.format());
    }
    return lines;
}

const std::vector<BadCase>& badCases() {
    static const std::
        vector<BadCase>
            cases =
                {
                    // YAML itself
                    {"SyntaxError",
                     "a: [1\n"
                     "b: 2\n",
                     {"config.yaml:2:2: invalid YAML: end of sequence flow not found"}},
                    {"SyntaxErrorTabIndent",
                     "author:\n"
                     "\tname: x\n",
                     {"config.yaml:2:6: invalid YAML: illegal map value (YAML does not allow tabs "
                      "for "
                      "indentation)"}},
                    {"TwoDocuments",
                     "log_level: info\n"
                     "---\n"
                     "log_level: debug\n",
                     {"config.yaml:3:1: expected one YAML document, found 2"}},
                    // yaml-cpp's LoadAll never returns on these (an empty document at the ","
                    // forever, gigabytes of nodes): ConfigLoaderFuzz's out-of-memory finding.
                    {"StrayCommaAtTopLevel",
                     ",",
                     {R"(config.yaml:1:1: invalid YAML: unexpected ",")"}},
                    {"StrayCommaAfterAList",
                     "- a\n"
                     "- b\n"
                     ",\n",
                     {R"(config.yaml:3:1: invalid YAML: unexpected ",")"}},
                    {"StrayCommaInTheSecondDocument",
                     "log_level: info\n"
                     "--- ,\n",
                     {R"(config.yaml:2:5: invalid YAML: unexpected ",")"}},
                    // YAML is Unicode, and values end up in D-Bus strings, which must be UTF-8.
                    {"NotUtf8",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: /mnt/\xc3\xa9t\xe9\n",
                     {"config.yaml:4:24: invalid YAML: byte 0xe9 is not UTF-8 (save the file as "
                      "UTF-8)"}},
                    {"NotUtf8Surrogate",
                     "log_level: \xed\xa0\x80\n",
                     {"config.yaml:1:12: invalid YAML: byte 0xed is not UTF-8 (save the file as "
                      "UTF-8)"}},
                    {"TopLevelList",
                     "- linux\n",
                     {R"(config.yaml:1:1: the configuration must be a map of settings (got a list))"}},
                    {"TopLevelScalar",
                     "hello\n",
                     {R"(config.yaml:1:1: the configuration must be a map of settings (got "hello"))"}},

                    // keys
                    {"UnknownKeyNearMiss",
                     "monuts: []\n",
                     {R"(config.yaml:1:1: monuts: unknown key (did you mean "mounts"?))"}},
                    {"UnknownKeyDashForUnderscore",
                     "cache-dir: /c\n",
                     {R"(config.yaml:1:1: cache-dir: unknown key (did you mean "cache_dir"?))"}},
                    {"UnknownKeyListsKnownKeys",
                     "colour: red\n",
                     {"config.yaml:1:1: colour: unknown key (expected one of: cache_dir, "
                      "state_dir, "
                      "log_level, content_cache_size, tree_cache_size, fetch_timeout, "
                      "fetch_concurrency, "
                      "fetch_batch_max, attr_timeout, worker_threads, max_mounts, "
                      "max_queued_operations, "
                      "max_diff_bytes, push_timeout, prefetch_window, prefetch_listing_max_blobs, "
                      "prefetch_directory_max_blobs, prefetch_remembered_directories, "
                      "xattr_name_max, "
                      "xattr_value_max, xattr_names_max, xattr_entry_max, "
                      "changes_hash_cache_entries, "
                      "git_pack_files_max, git_mapped_pack_max, git_object_cache_size, "
                      "repository_recycle_after_fetches, repository_max_packs, author, mounts)"}},
                    {"MountKeyAtTopLevel",
                     "writable: true\n",
                     {R"(config.yaml:1:1: writable: unknown key; "writable" is a per-mount setting (put it in an entry of mounts))"}},
                    {"GlobalKeyInMount",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: /m\n"
                     "    content_cache_size: 1GiB\n",
                     {R"(config.yaml:5:5: mounts[0].content_cache_size: unknown key; "content_cache_size" is a global setting and cannot be set per mount)"}},
                    {"SourceKeyInMount",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: /m\n"
                     "    token_file: /t\n",
                     {R"(config.yaml:5:5: mounts[0].token_file: unknown key; "token_file" belongs in the source map (source: {mega: URL, path: /p, token_file: F}))"}},
                    {"UnknownMountKeyTransposed",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoitn: /m\n",
                     {R"(config.yaml:2:5: mounts[0].mountpoint: missing required key)",
                      R"(config.yaml:4:5: mounts[0].mountpoitn: unknown key (did you mean "mountpoint"?))"}},
                    {"UnknownSourceKey",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: {meg: https://m}\n"
                     "    mountpoint: /m\n",
                     {R"(config.yaml:3:13: mounts[0].source.mega: missing required key)",
                      R"(config.yaml:3:14: mounts[0].source.meg: unknown key (did you mean "mega"?))"}},
                    {"UnknownAuthorKey",
                     "author: {name: A, mail: a@b}\n",
                     {R"(config.yaml:1:9: author.email: missing required key)",
                      R"(config.yaml:1:19: author.mail: unknown key (did you mean "email"?))"}},
                    {"DuplicateKey",
                     "log_level: info\n"
                     "fetch_timeout: 10s\n"
                     "log_level: debug\n",
                     {R"(config.yaml:3:1: log_level: duplicate key (first on line 1))"}},
                    {"DuplicateKeyInMount",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    name: b\n"
                     "    mountpoint: /m\n",
                     {R"(config.yaml:4:5: mounts[0].name: duplicate key (first on line 2))"}},
                    {"NonStringKey",
                     "? [a, b]\n"
                     ": 1\n",
                     {R"(config.yaml:1:3: keys must be strings (got a list))"}},

                    // types
                    {"MountsNotAList",
                     "mounts: {name: a}\n",
                     {R"(config.yaml:1:9: mounts: must be a list of mounts (got a map))"}},
                    {"MountNotAMap",
                     "mounts:\n  - linux\n",
                     {R"(config.yaml:2:5: mounts[0]: must be a map with name, source and mountpoint (got "linux"))"}},
                    {"EmptyMountEntry",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /m}\n"
                     "  -\n"
                     "  - {name: b, source: /r, mountpoint: /n}\n",
                     {R"(config.yaml:3:3: mounts[1]: must be a map with name, source and mountpoint (got nothing))"}},
                    {"AuthorNotAMap",
                     "author: Ada\n",
                     {R"(config.yaml:1:9: author: must be a map with name and email (got "Ada"))"}},
                    {"StringGotMap",
                     "log_level: {level: info}\n",
                     {R"(config.yaml:1:12: log_level: must be one of trace, debug, info, warn, error, off (got a map))"}},
                    {"SizeGotList",
                     "tree_cache_size: [64MiB]\n",
                     {R"(config.yaml:1:18: tree_cache_size: must be a size such as 512MiB or 10GB (got a list))"}},
                    {"SourceGotList",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: [/r]\n"
                     "    mountpoint: /m\n",
                     {R"(config.yaml:3:13: mounts[0].source: must be a repository path or URL, or a map with "mega" (got a list))"}},
                    {"EmptyValuePointsAtKey",
                     "log_level:\n"
                     "fetch_timeout: 10s\n",
                     {R"(config.yaml:1:1: log_level: must be one of trace, debug, info, warn, error, off (got nothing))"}},
                    {"BareTildeIsNull",
                     "cache_dir: ~\n",
                     {R"(config.yaml:1:12: cache_dir: must be an absolute path (got ~, which YAML reads as null; write "~" for the home directory))"}},

                    // required keys
                    {"MountMissingEverything",
                     "mounts:\n"
                     "  - writable: true\n",
                     {R"(config.yaml:2:5: mounts[0].name: missing required key)",
                      R"(config.yaml:2:5: mounts[0].source: missing required key)",
                      R"(config.yaml:2:5: mounts[0].mountpoint: missing required key)"}},
                    {"AuthorMissingName",
                     "author:\n  email: a@example.com\n",
                     {R"(config.yaml:2:3: author.name: missing required key)"}},

                    // bounds
                    {"ContentCacheTooSmall",
                     "content_cache_size: 63MiB\n",
                     {R"(config.yaml:1:21: content_cache_size: must be from 64MiB to 16TiB (got "63MiB"))"}},
                    {"ContentCacheTooLarge",
                     "content_cache_size: 17TiB\n",
                     {R"(config.yaml:1:21: content_cache_size: must be from 64MiB to 16TiB (got "17TiB"))"}},
                    {"ContentCacheOverflows",
                     "content_cache_size: 99999999999999999999999TiB\n",
                     {R"(config.yaml:1:21: content_cache_size: must be from 64MiB to 16TiB (got "99999999999999999999999TiB"))"}},
                    {"TreeCacheTooSmall",
                     "tree_cache_size: 1048575\n",
                     {R"(config.yaml:1:18: tree_cache_size: must be from 1MiB to 16GiB (got "1048575"))"}},
                    {"TreeCacheTooLarge",
                     "tree_cache_size: 18GB\n",
                     {R"(config.yaml:1:18: tree_cache_size: must be from 1MiB to 16GiB (got "18GB"))"}},
                    {"FetchTimeoutTooShort",
                     "fetch_timeout: 999ms\n",
                     {R"(config.yaml:1:16: fetch_timeout: must be from 1s to 1h (got "999ms"))"}},
                    {"FetchTimeoutTooLong",
                     "fetch_timeout: 61m\n",
                     {R"(config.yaml:1:16: fetch_timeout: must be from 1s to 1h (got "61m"))"}},
                    {"FetchConcurrencyZero",
                     "fetch_concurrency: 0\n",
                     {R"(config.yaml:1:20: fetch_concurrency: must be an integer from 1 to 32 (got "0"))"}},
                    {"FetchConcurrencyTooMany",
                     "fetch_concurrency: 33\n",
                     {R"(config.yaml:1:20: fetch_concurrency: must be an integer from 1 to 32 (got "33"))"}},
                    {"FetchConcurrencyNotInteger",
                     "fetch_concurrency: 2.5\n",
                     {R"(config.yaml:1:20: fetch_concurrency: must be an integer from 1 to 32 (got "2.5"))"}},
                    {"FetchBatchNegative",
                     "fetch_batch_max: -1\n",
                     {R"(config.yaml:1:18: fetch_batch_max: must be an integer from 1 to 100000 (got "-1"))"}},
                    {"FetchBatchTooLarge",
                     "fetch_batch_max: 100001\n",
                     {R"(config.yaml:1:18: fetch_batch_max: must be an integer from 1 to 100000 (got "100001"))"}},
                    {"FetchBatchHuge",
                     "fetch_batch_max: 123456789012345678901234567890\n",
                     {R"(config.yaml:1:18: fetch_batch_max: must be an integer from 1 to 100000 (got "123456789012345678901234567890"))"}},
                    {"AttrTimeoutTooLong",
                     "attr_timeout: 86401s\n",
                     {R"(config.yaml:1:15: attr_timeout: must be from 0s to 1d (got "86401s"))"}},
                    {"WorkerThreadsZero",
                     "worker_threads: 0\n",
                     {R"(config.yaml:1:17: worker_threads: must be an integer from 1 to 64 (got "0"))"}},
                    {"WorkerThreadsTooMany",
                     "worker_threads: 65\n",
                     {R"(config.yaml:1:17: worker_threads: must be an integer from 1 to 64 (got "65"))"}},
                    {"MaxMountsZero",
                     "max_mounts: 0\n",
                     {R"(config.yaml:1:13: max_mounts: must be an integer from 1 to 4096 (got "0"))"}},
                    {"MaxMountsNotANumber",
                     "max_mounts: many\n",
                     {R"(config.yaml:1:13: max_mounts: must be an integer from 1 to 4096 (got "many"))"}},
                    {"MaxQueuedOperationsTooMany",
                     "max_queued_operations: 4097\n",
                     {R"(config.yaml:1:24: max_queued_operations: must be an integer from 1 to 4096 (got "4097"))"}},
                    {"MaxDiffBytesTooSmall",
                     "max_diff_bytes: 1000\n",
                     {R"(config.yaml:1:17: max_diff_bytes: must be from 64KiB to 4GiB (got "1000"))"}},
                    {"MaxDiffBytesTooLarge",
                     "max_diff_bytes: 5GB\n",
                     {R"(config.yaml:1:17: max_diff_bytes: must be from 64KiB to 4GiB (got "5GB"))"}},
                    {"MaxDiffBytesNotASize",
                     "max_diff_bytes: big\n",
                     {R"(config.yaml:1:17: max_diff_bytes: must be a size such as 512MiB or 10GB (got "big"))"}},
                    {"PushTimeoutTooShort",
                     "push_timeout: 500ms\n",
                     {R"(config.yaml:1:15: push_timeout: must be from 1s to 1d (got "500ms"))"}},
                    {"PushTimeoutTooLong",
                     "push_timeout: 2d\n",
                     {R"(config.yaml:1:15: push_timeout: must be from 1s to 1d (got "2d"))"}},
                    {"PrefetchWindowNegative",
                     "prefetch_window: -1s\n",
                     {R"(config.yaml:1:18: prefetch_window: must be a duration such as 30s, 500ms or 5m (got "-1s"))"}},
                    {"PrefetchWindowTooLong",
                     "prefetch_window: 61m\n",
                     {R"(config.yaml:1:18: prefetch_window: must be from 0s to 1h (got "61m"))"}},
                    {"PrefetchListingMaxBlobsZero",
                     "prefetch_listing_max_blobs: 0\n",
                     {R"(config.yaml:1:29: prefetch_listing_max_blobs: must be an integer from 1 to 100000 (got "0"))"}},
                    {"PrefetchListingMaxBlobsTooMany",
                     "prefetch_listing_max_blobs: 100001\n",
                     {R"(config.yaml:1:29: prefetch_listing_max_blobs: must be an integer from 1 to 100000 (got "100001"))"}},
                    {"PrefetchDirectoryMaxBlobsZero",
                     "prefetch_directory_max_blobs: 0\n",
                     {R"(config.yaml:1:31: prefetch_directory_max_blobs: must be an integer from 1 to 100000 (got "0"))"}},
                    {"PrefetchDirectoryMaxBlobsTooMany",
                     "prefetch_directory_max_blobs: 100001\n",
                     {R"(config.yaml:1:31: prefetch_directory_max_blobs: must be an integer from 1 to 100000 (got "100001"))"}},
                    {"PrefetchRememberedDirectoriesNegative",
                     "prefetch_remembered_directories: -1\n",
                     {R"(config.yaml:1:34: prefetch_remembered_directories: must be an integer from 0 to 1000000 (got "-1"))"}},
                    {"PrefetchRememberedDirectoriesTooMany",
                     "prefetch_remembered_directories: 1000001\n",
                     {R"(config.yaml:1:34: prefetch_remembered_directories: must be an integer from 0 to 1000000 (got "1000001"))"}},
                    {"XattrNameMaxZero",
                     "xattr_name_max: 0\n",
                     {R"(config.yaml:1:17: xattr_name_max: must be an integer from 1 to 255 (got "0"))"}},
                    {"XattrNameMaxBeyondTheKernels",
                     "xattr_name_max: 256\n",
                     {R"(config.yaml:1:17: xattr_name_max: must be an integer from 1 to 255 (got "256"))"}},
                    {"XattrValueMaxNegative",
                     "xattr_value_max: -1\n",
                     {R"(config.yaml:1:18: xattr_value_max: must be a size such as 512MiB or 10GB (got "-1"))"}},
                    {"XattrValueMaxBeyondTheKernels",
                     "xattr_value_max: 65537\n",
                     {R"(config.yaml:1:18: xattr_value_max: must be from 0B to 64KiB (got "65537"))"}},
                    {"XattrNamesMaxTooSmall",
                     "xattr_names_max: 255\n",
                     {R"(config.yaml:1:18: xattr_names_max: must be from 256B to 64KiB (got "255"))"}},
                    {"XattrNamesMaxBeyondTheKernels",
                     "xattr_names_max: 65KiB\n",
                     {R"(config.yaml:1:18: xattr_names_max: must be from 256B to 64KiB (got "65KiB"))"}},
                    {"XattrEntryMaxTooSmall",
                     "xattr_entry_max: 4095\n",
                     {R"(config.yaml:1:18: xattr_entry_max: must be from 4KiB to 16MiB (got "4095"))"}},
                    {"XattrEntryMaxTooLarge",
                     "xattr_entry_max: 17MiB\n",
                     {R"(config.yaml:1:18: xattr_entry_max: must be from 4KiB to 16MiB (got "17MiB"))"}},
                    {"ChangesHashCacheEntriesNegative",
                     "changes_hash_cache_entries: -1\n",
                     {R"(config.yaml:1:29: changes_hash_cache_entries: must be an integer from 0 to 1048576 (got "-1"))"}},
                    {"ChangesHashCacheEntriesTooMany",
                     "changes_hash_cache_entries: 1048577\n",
                     {R"(config.yaml:1:29: changes_hash_cache_entries: must be an integer from 0 to 1048576 (got "1048577"))"}},
                    {"GitPackFilesMaxZero",
                     "git_pack_files_max: 0\n",
                     {R"(config.yaml:1:21: git_pack_files_max: must be an integer from 1 to 10000 (got "0"))"}},
                    {"GitPackFilesMaxTooMany",
                     "git_pack_files_max: 10001\n",
                     {R"(config.yaml:1:21: git_pack_files_max: must be an integer from 1 to 10000 (got "10001"))"}},
                    {"GitMappedPackMaxTooSmall",
                     "git_mapped_pack_max: 1023KiB\n",
                     {R"(config.yaml:1:22: git_mapped_pack_max: must be from 1MiB to 64GiB (got "1023KiB"))"}},
                    {"GitMappedPackMaxTooLarge",
                     "git_mapped_pack_max: 65GiB\n",
                     {R"(config.yaml:1:22: git_mapped_pack_max: must be from 1MiB to 64GiB (got "65GiB"))"}},
                    {"GitObjectCacheSizeTooLarge",
                     "git_object_cache_size: 5GiB\n",
                     {R"(config.yaml:1:24: git_object_cache_size: must be from 0B to 4GiB (got "5GiB"))"}},
                    {"RepositoryRecycleAfterFetchesNegative",
                     "repository_recycle_after_fetches: -1\n",
                     {R"(config.yaml:1:35: repository_recycle_after_fetches: must be an integer from 0 to 1000000 (got "-1"))"}},
                    {"RepositoryRecycleAfterFetchesTooMany",
                     "repository_recycle_after_fetches: 1000001\n",
                     {R"(config.yaml:1:35: repository_recycle_after_fetches: must be an integer from 0 to 1000000 (got "1000001"))"}},
                    {"RepositoryMaxPacksTooMany",
                     "repository_max_packs: 100001\n",
                     {R"(config.yaml:1:23: repository_max_packs: must be an integer from 0 to 100000 (got "100001"))"}},
                    {"ManagerKeyInMount",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: /m\n"
                     "    max_diff_bytes: 1MiB\n",
                     {R"(config.yaml:5:5: mounts[0].max_diff_bytes: unknown key; "max_diff_bytes" is a global setting and cannot be set per mount)"}},
                    {"MoreMountsThanMaxMounts",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /m/a}\n"
                     "  - {name: b, source: /r, mountpoint: /m/b}\n"
                     "  - {name: c, source: /r, mountpoint: /m/c}\n"
                     "max_mounts: 2\n",
                     {R"(config.yaml:4:5: mounts[2]: 3 mounts are listed; max_mounts is 2)"}},
                    {"MountOverridesOutOfBounds",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: /m\n"
                     "    fetch_timeout: 0s\n"
                     "    fetch_concurrency: 64\n"
                     "    attr_timeout: 2d\n",
                     {R"(config.yaml:5:20: mounts[0].fetch_timeout: must be from 1s to 1h (got "0s"))",
                      R"(config.yaml:6:24: mounts[0].fetch_concurrency: must be an integer from 1 to 32 (got "64"))",
                      R"(config.yaml:7:19: mounts[0].attr_timeout: must be from 0s to 1d (got "2d"))"}},

                    // sizes, durations, log level
                    {"BadSize",
                     "content_cache_size: 10 gigs\n",
                     {R"(config.yaml:1:21: content_cache_size: must be a size such as 512MiB or 10GB (got "10 gigs"))"}},
                    {"BadSizeLowercaseUnit",
                     "content_cache_size: 10gb\n",
                     {R"(config.yaml:1:21: content_cache_size: must be a size such as 512MiB or 10GB (got "10gb"))"}},
                    {"BadSizeFractionOfBytes",
                     "tree_cache_size: 1048576.5\n",
                     {R"(config.yaml:1:18: tree_cache_size: must be a size such as 512MiB or 10GB (got "1048576.5"))"}},
                    {"BadDuration",
                     "fetch_timeout: soon\n",
                     {R"(config.yaml:1:16: fetch_timeout: must be a duration such as 30s, 500ms or 5m (got "soon"))"}},
                    {"BadDurationUnit",
                     "fetch_timeout: 5min\n",
                     {R"(config.yaml:1:16: fetch_timeout: must be a duration such as 30s, 500ms or 5m (got "5min"))"}},
                    {"BadDurationNegative", "attr_timeout: -1s\n", {R"(config.yaml:1:15: attr_timeout: must be a duration such as 30s, 500ms or 5m (got "-1s"))"}},
                    {"BadLogLevel",
                     "log_level: verbose\n",
                     {R"(config.yaml:1:12: log_level: must be one of trace, debug, info, warn, error, off (got "verbose"))"}},
                    {"BadLogLevelCase",
                     "log_level: WARN\n",
                     {R"(config.yaml:1:12: log_level: must be one of trace, debug, info, warn, error, off (got "WARN"))"}},

                    // paths
                    {"RelativeCacheDir",
                     "cache_dir: cache\n",
                     {R"(config.yaml:1:12: cache_dir: must be an absolute path (got "cache"))"}},
                    {"RelativeStateDir",
                     "state_dir: ./state\n",
                     {R"(config.yaml:1:12: state_dir: must be an absolute path (got "./state"))"}},
                    {"RelativeMountpoint",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: src\n",
                     {R"(config.yaml:4:17: mounts[0].mountpoint: must be an absolute path (got "src"))"}},
                    {"OtherUsersHomeMountpoint",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: ~bob/src\n",
                     {R"(config.yaml:4:17: mounts[0].mountpoint: must be an absolute path (got "~bob/src"))"}},
                    {"RootMountpoint",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: /\n",
                     {R"(config.yaml:4:17: mounts[0].mountpoint: must not be the root directory (got "/"))"}},

                    // names
                    {"NameWithSpace",
                     "mounts:\n"
                     "  - name: my mount\n"
                     "    source: /r\n"
                     "    mountpoint: /m\n",
                     {R"(config.yaml:2:11: mounts[0].name: must be 1 to 64 of the characters A-Z a-z 0-9 . _ - (got "my mount"))"}},
                    {"NameEmpty",
                     "mounts:\n"
                     "  - name: \"\"\n"
                     "    source: /r\n"
                     "    mountpoint: /m\n",
                     {R"(config.yaml:2:11: mounts[0].name: must be 1 to 64 of the characters A-Z a-z 0-9 . _ - (got ""))"}},
                    {"NameTooLong",
                     "mounts:\n"
                     "  - name: " +
                         std::string(65, 'x') +
                         "\n"
                         "    source: /r\n"
                         "    mountpoint: /m\n",
                     {"config.yaml:2:11: mounts[0].name: must be 1 to 64 of the characters A-Z a-z "
                      "0-9 "
                      ". _ - "
                      "(got \"" +
                      std::string(65, 'x') + "\")"}},
                    {"NameDotDot",
                     "mounts:\n"
                     "  - name: ..\n"
                     "    source: /r\n"
                     "    mountpoint: /m\n",
                     {R"(config.yaml:2:11: mounts[0].name: must not be "." or ".." (got ".."))"}},
                    {"NameWithControlCharacter",
                     "mounts:\n"
                     "  - name: \"a\\tb\"\n"
                     "    source: /r\n"
                     "    mountpoint: /m\n",
                     {R"(config.yaml:2:11: mounts[0].name: must be 1 to 64 of the characters A-Z a-z 0-9 . _ - (got "a\tb"))"}},

                    // clashes between mounts
                    {"DuplicateNames",
                     "mounts:\n"
                     "  - name: linux\n"
                     "    source: /r\n"
                     "    mountpoint: /m1\n"
                     "  - name: linux\n"
                     "    source: /r\n"
                     "    mountpoint: /m2\n",
                     {R"(config.yaml:5:11: mounts[1].name: "linux" is already the name of mounts[0] (line 2))"}},
                    {"DuplicateMountpointsAfterNormalizing",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: ~/src}\n"
                     "  - {name: b, source: /r, mountpoint: /home/tester/src/}\n"
                     "  - {name: c, source: /r, mountpoint: /home/tester/x/../src}\n",
                     {R"(config.yaml:3:39: mounts[1].mountpoint: "/home/tester/src" is already the mountpoint of mounts[0] (line 2))",
                      R"(config.yaml:4:39: mounts[2].mountpoint: "/home/tester/src" is already the mountpoint of mounts[0] (line 2))"}},
                    {"NestedMountpoint",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /src}\n"
                     "  - {name: b, source: /r, mountpoint: /src/linux/drivers}\n",
                     {R"(config.yaml:3:39: mounts[1].mountpoint: "/src/linux/drivers" is inside the mountpoint of mounts[0] ("/src", line 2))"}},
                    {"NestedMountpointOuterDeclaredLater",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /src/linux}\n"
                     "  - {name: b, source: /r, mountpoint: /src}\n",
                     {R"(config.yaml:2:39: mounts[0].mountpoint: "/src/linux" is inside the mountpoint of mounts[1] ("/src", line 3))"}},
                    {"MountpointOverHome",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: \"~\"}\n",
                     {R"(config.yaml:2:39: mounts[0].mountpoint: must not overlap cache_dir ("/home/tester/.cache/mega-fuse"))",
                      R"(config.yaml:2:39: mounts[0].mountpoint: must not overlap state_dir ("/home/tester/.local/state/mega-fuse"))"}},
                    {"MountpointInsideCacheDir",
                     "cache_dir: /var/cache/mf\n"
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /var/cache/mf/a}\n",
                     {R"(config.yaml:3:39: mounts[0].mountpoint: must not overlap cache_dir ("/var/cache/mf"))"}},

                    // sources
                    {"SshUrl",
                     "mounts:\n"
                     "  - {name: a, source: \"ssh://git@host/r.git\", mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: ssh:// sources are not supported yet; use https://, git:// or file:// (got "ssh://git@host/r.git"))"}},
                    {"GitPlusSshUrl",
                     "mounts:\n"
                     "  - {name: a, source: \"git+ssh://host/r\", mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: ssh:// sources are not supported yet; use https://, git:// or file:// (got "git+ssh://host/r"))"}},
                    {"ScpStyleAddress",
                     "mounts:\n"
                     "  - {name: a, source: \"git@github.com:org/r.git\", mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: scp-style ssh addresses (host:path) are not supported yet; use https://, git:// or file:// (got "git@github.com:org/r.git"))"}},
                    {"UnsupportedScheme",
                     "mounts:\n"
                     "  - {name: a, source: \"ftp://host/r\", mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: unsupported URL scheme "ftp"; use a local path, file://, git://, http:// or https:// (got "ftp://host/r"))"}},
                    {"RelativeLocalSource",
                     "mounts:\n"
                     "  - {name: a, source: repos/r, mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: a local repository path must be absolute (got "repos/r"))"}},
                    {"EmptySource",
                     "mounts:\n"
                     "  - {name: a, source: \"\", mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: must be a repository path or URL (got ""))"}},
                    {"FileUrlRelative",
                     "mounts:\n"
                     "  - {name: a, source: \"file://srv/r\", mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: a file:// URL needs an absolute path, as in file:///srv/repo.git (got "file://srv/r"))"}},
                    {"UrlWithoutHost",
                     "mounts:\n"
                     "  - {name: a, source: \"git:///r.git\", mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: the URL has no host (got "git:///r.git"))"}},
                    {"PasswordIsRedacted",
                     "mounts:\n"
                     "  - {name: a, source: \"https://me:s3cret@/r\", mountpoint: /m}\n",
                     {R"(config.yaml:2:23: mounts[0].source: the URL has no host (got "https://me:***@/r"))"}},
                    {"MegaNeedsHttp",
                     "mounts:\n"
                     "  - name: a\n"
                     "    source:\n"
                     "      mega: git://mega.example.com\n"
                     "      path: project\n"
                     "      token_file: token\n"
                     "    mountpoint: /m\n",
                     {R"(config.yaml:4:13: mounts[0].source.mega: must be an http:// or https:// URL (got "git://mega.example.com"))",
                      R"(config.yaml:5:13: mounts[0].source.path: must be an absolute path inside the monorepo, such as /project (got "project"))",
                      R"(config.yaml:6:19: mounts[0].source.token_file: must be an absolute path (got "token"))"}},
                    {"MegaUrlWithoutHost",
                     "mounts:\n"
                     "  - {name: a, source: {mega: \"https://\"}, mountpoint: /m}\n",
                     {R"(config.yaml:2:30: mounts[0].source.mega: must be an http:// or https:// URL (got "https://"))"}},
                    {"MegaPathEscapes",
                     "mounts:\n"
                     "  - {name: a, source: {mega: \"https://m\", path: /a/../../b}, mountpoint: "
                     "/m}\n",
                     {R"(config.yaml:2:49: mounts[0].source.path: must be an absolute path inside the monorepo, such as /project (got "/a/../../b"))"}},
                    {"MegaRefreshIntervalTooShort",
                     "mounts:\n"
                     "  - {name: a, source: {mega: \"https://m\", refresh_interval: 500ms}, "
                     "mountpoint: /m}\n",
                     {R"(config.yaml:2:61: mounts[0].source.refresh_interval: must be 0 (off) or at least 1s (got "500ms"))"}},
                    {"MegaRefreshIntervalTooLong",
                     "mounts:\n"
                     "  - {name: a, source: {mega: \"https://m\", refresh_interval: 2d}, "
                     "mountpoint: "
                     "/m}\n",
                     {R"(config.yaml:2:61: mounts[0].source.refresh_interval: must be from 0s to 1d (got "2d"))"}},

                    // revision, path, booleans, author
                    {"RevisionLooksLikeOption",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /m, revision: --upload-pack=x}\n",
                     {R"(config.yaml:2:53: mounts[0].revision: must be a branch, tag or commit id (got "--upload-pack=x"))"}},
                    {"RevisionWithSpace",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /m, revision: \"my branch\"}\n",
                     {R"(config.yaml:2:53: mounts[0].revision: must be a branch, tag or commit id (got "my branch"))"}},
                    {"SubPathEscapesRepository",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /m, path: ../etc}\n",
                     {R"(config.yaml:2:49: mounts[0].path: must be a path inside the repository, without "." or ".." parts (got "../etc"))"}},
                    {"BooleanYes",
                     "mounts:\n"
                     "  - {name: a, source: /r, mountpoint: /m, writable: yes}\n",
                     {R"(config.yaml:2:53: mounts[0].writable: must be true or false (got "yes"))"}},
                    {"AuthorBadValues",
                     "author:\n"
                     "  name: \"Ada <ada>\"\n"
                     "  email: ada at example.com\n",
                     {R"(config.yaml:2:9: author.name: must be a name without <, > or line breaks (got "Ada <ada>"))",
                      R"(config.yaml:3:10: author.email: must be an email address such as dev@example.com (got "ada at example.com"))"}},

                    // many problems at once, reported in file order
                    {"AllIssuesInOnePassSortedByPosition",
                     "log_level: loud\n"
                     "mounts:\n"
                     "  - name: a\n"
                     "    source: ssh://h/r\n"
                     "    mountpoint: /m\n"
                     "  - name: a\n"
                     "    source: /r\n"
                     "    mountpoint: /m/x\n"
                     "    automount: sometimes\n"
                     "fetch_timeout: forever\n",
                     {R"(config.yaml:1:12: log_level: must be one of trace, debug, info, warn, error, off (got "loud"))", R"(config.yaml:4:13: mounts[0].source: ssh:// sources are not supported yet; use https://, git:// or file:// (got "ssh://h/r"))",
                      R"(config.yaml:6:11: mounts[1].name: "a" is already the name of mounts[0] (line 3))",
                      R"(config.yaml:8:17: mounts[1].mountpoint: "/m/x" is inside the mountpoint of mounts[0] ("/m", line 5))",
                      R"(config.yaml:9:16: mounts[1].automount: must be true or false (got "sometimes"))",
                      R"(config.yaml:10:16: fetch_timeout: must be a duration such as 30s, 500ms or 5m (got "forever"))"}},
                };
    return cases;
}

class BadConfigTest : public FixedHomeTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(BadConfigTest, ReportsExactMessages) {
    const BadCase& c = GetParam();
    try {
        parseConfig(c.yaml, "config.yaml");
        FAIL() << "parsed without error:\n" << c.yaml;
    } catch (const ConfigError& e) {
        EXPECT_EQ(formatted(e), c.expected) << c.yaml;
        std::string joined;
        for (const auto& line : c.expected) {
            joined += (joined.empty() ? "" : "\n") + line;
        }
        EXPECT_EQ(e.what(), joined);
    }
}

INSTANTIATE_TEST_SUITE_P(Table, BadConfigTest, ::testing::ValuesIn(badCases()),
                         [](const ::testing::TestParamInfo<BadCase>& param) {
                             return std::string(param.param.name);
                         });

TEST_F(FixedHomeTest, IssueKindsAreNamed) {
    auto kindsOf = [](const std::string& yaml) {
        std::vector<ConfigIssueKind> kinds;
        try {
            parseConfig(yaml, "c.yaml");
        } catch (const ConfigError& e) {
            for (const auto& issue : e.issues()) {
                kinds.push_back(issue.kind);
            }
        }
        return kinds;
    };
    using K = ConfigIssueKind;
    EXPECT_EQ(kindsOf("a: [1\n"), std::vector{K::Syntax});
    EXPECT_EQ(kindsOf("monuts: []\n"), std::vector{K::UnknownKey});
    EXPECT_EQ(kindsOf("a: 1\na: 2\n"), (std::vector{K::UnknownKey, K::DuplicateKey}));
    EXPECT_EQ(kindsOf("mounts: [{}]\n"),
              (std::vector{K::MissingKey, K::MissingKey, K::MissingKey}));
    EXPECT_EQ(kindsOf("mounts: x\n"), std::vector{K::WrongType});
    EXPECT_EQ(kindsOf("fetch_concurrency: x\n"), std::vector{K::BadValue});
    EXPECT_EQ(kindsOf("fetch_concurrency: 99\n"), std::vector{K::OutOfBounds});
    EXPECT_EQ(kindsOf("fetch_batch_max: 99999999999999999999\n"), std::vector{K::OutOfBounds});
    EXPECT_EQ(kindsOf("tree_cache_size: 1KiB\n"), std::vector{K::OutOfBounds});
    EXPECT_EQ(kindsOf("mounts: [{name: a, source: /r, mountpoint: /m},"
                      " {name: a, source: /r, mountpoint: /n}]\n"),
              std::vector{K::Conflict});
    EXPECT_STREQ(toString(K::Conflict), "Conflict");
}

TEST_F(FixedHomeTest, LongValuesAreCutInMessages) {
    std::string value(300, 'x');
    try {
        parseConfig("log_level: " + value + "\n", "config.yaml");
        FAIL() << "parsed without error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "config.yaml:1:12: log_level: must be one of trace, debug, info, warn, error, "
                  "off (got \"" +
                      std::string(200, 'x') + "\"... (300 bytes))");
    }
}

TEST_F(FixedHomeTest, HugeUnknownKeyGetsNoSuggestion) {
    std::string key(1000, 'k');  // YAML's longest implicit key is 1024
    try {
        parseConfig(key + ": 1\n", "config.yaml");
        FAIL() << "parsed without error";
    } catch (const ConfigError& e) {
        ASSERT_EQ(e.issues().size(), 1U);
        EXPECT_EQ(e.issues()[0].message.rfind("unknown key (expected one of: ", 0), 0U);
    }
}

TEST_F(FixedHomeTest, MessageListsAtMostFiftyIssues) {
    std::string yaml = "mounts:\n";
    for (int i = 0; i < 60; ++i) {
        yaml += "  - {name: m" + std::to_string(i) + ", source: /r, mountpoint: rel}\n";
    }
    try {
        parseConfig(yaml, "config.yaml");
        FAIL() << "parsed without error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.issues().size(), 60U);
        std::string what = e.what();
        EXPECT_EQ(std::count(what.begin(), what.end(), '\n'), 50);
        EXPECT_EQ(what.substr(what.rfind('\n') + 1), "... and 10 more issues");
    }
}

TEST(ConfigIssue, FormatLeavesOutWhatIsUnknown) {
    EXPECT_EQ(
        (ConfigIssue{"f.yaml", 3, 7, "mounts[0].name", "bad", ConfigIssueKind::BadValue}).format(),
        "f.yaml:3:7: mounts[0].name: bad");
    EXPECT_EQ(
        (ConfigIssue{"f.yaml", 1, 1, "", "invalid YAML: x", ConfigIssueKind::Syntax}).format(),
        "f.yaml:1:1: invalid YAML: x");
    EXPECT_EQ(
        (ConfigIssue{"/e/c.yaml", 0, 0, "", "cannot read", ConfigIssueKind::Unreadable}).format(),
        "/e/c.yaml: cannot read");
}

// --- good inputs -----------------------------------------------------------------------------

TEST_F(FixedHomeTest, EmptyDocumentIsTheDefaultConfig) {
    for (const char* text : {"", "\n", "# only a comment\n", "mounts:\n", "mounts: []\n"}) {
        Config config = parseConfig(text, "config.yaml");
        EXPECT_EQ(config, Config{}) << text;
    }
    Config config = parseConfig("", "config.yaml");
    EXPECT_EQ(config.global.cacheDir, "/home/tester/.cache/mega-fuse");
    EXPECT_EQ(config.global.stateDir, "/home/tester/.local/state/mega-fuse");
    EXPECT_EQ(config.global.logLevel, "info");
    EXPECT_EQ(config.global.contentCacheBytes, 10ULL << 30U);
    EXPECT_EQ(config.global.treeCacheBytes, 64ULL << 20U);
    EXPECT_EQ(config.global.fetchTimeout, milliseconds(30'000));
    EXPECT_EQ(config.global.fetchConcurrency, 2U);
    EXPECT_EQ(config.global.fetchBatchMax, 4096U);
    EXPECT_EQ(config.global.attrTimeout, milliseconds(3'600'000));
    EXPECT_FALSE(config.global.author.has_value());
    EXPECT_TRUE(config.mounts.empty());
}

TEST_F(FixedHomeTest, DefaultDirectoriesFollowXdgVariables) {
    setVariable("XDG_CACHE_HOME", "/xdg/cache");
    setVariable("XDG_STATE_HOME", "/xdg/state");
    setVariable("XDG_CONFIG_HOME", "/xdg/config");
    Config config = parseConfig("", "config.yaml");
    EXPECT_EQ(config.global.cacheDir, "/xdg/cache/mega-fuse");
    EXPECT_EQ(config.global.stateDir, "/xdg/state/mega-fuse");
    EXPECT_EQ(defaultConfigPath(), "/xdg/config/mega-fuse/config.yaml");
}

TEST_F(FixedHomeTest, GlobalSettingsLoad) {
    Config config = parseConfig(
        "cache_dir: ~/c/\n"
        "state_dir: /var/lib/../lib/mf\n"
        "log_level: debug\n"
        "content_cache_size: 1.5GiB\n"
        "tree_cache_size: 1MiB\n"
        "fetch_timeout: 1h\n"
        "fetch_concurrency: 32\n"
        "fetch_batch_max: 100000\n"
        "attr_timeout: 0\n"
        "worker_threads: 64\n"
        "max_mounts: 4096\n"
        "max_queued_operations: 1\n"
        "max_diff_bytes: 64KiB\n"
        "push_timeout: 1d\n"
        "prefetch_window: 0\n"
        "prefetch_listing_max_blobs: 100000\n"
        "prefetch_directory_max_blobs: 1\n"
        "prefetch_remembered_directories: 1000000\n"
        "xattr_name_max: 1\n"
        "xattr_value_max: 0\n"
        "xattr_names_max: 64KiB\n"
        "xattr_entry_max: 16MiB\n"
        "changes_hash_cache_entries: 0\n"
        "git_pack_files_max: 10000\n"
        "git_mapped_pack_max: 1MiB\n"
        "git_object_cache_size: 0\n"
        "repository_recycle_after_fetches: 1000000\n"
        "repository_max_packs: 0\n"
        "author: {name: Ada Lovelace, email: ada@example.com}\n",
        "config.yaml");
    const GlobalSettings& g = config.global;
    EXPECT_EQ(g.cacheDir, "/home/tester/c");
    EXPECT_EQ(g.stateDir, "/var/lib/mf");
    EXPECT_EQ(g.logLevel, "debug");
    EXPECT_EQ(g.contentCacheBytes, 3ULL << 29U);
    EXPECT_EQ(g.treeCacheBytes, 1ULL << 20U);
    EXPECT_EQ(g.fetchTimeout, std::chrono::hours(1));
    EXPECT_EQ(g.fetchConcurrency, 32U);
    EXPECT_EQ(g.fetchBatchMax, 100'000U);
    EXPECT_EQ(g.attrTimeout, milliseconds(0));
    EXPECT_EQ(g.workerThreads, 64U);
    EXPECT_EQ(g.maxMounts, 4096U);
    EXPECT_EQ(g.maxQueuedOperations, 1U);
    EXPECT_EQ(g.maxDiffBytes, 64U << 10U);
    EXPECT_EQ(g.pushTimeout, std::chrono::hours(24));
    EXPECT_EQ(g.prefetchWindow, milliseconds(0));
    EXPECT_EQ(g.prefetchListingMaxBlobs, 100'000U);
    EXPECT_EQ(g.prefetchDirectoryMaxBlobs, 1U);
    EXPECT_EQ(g.prefetchRememberedDirectories, 1'000'000U);
    EXPECT_EQ(g.xattrNameMax, 1U);
    EXPECT_EQ(g.xattrValueMax, 0U);
    EXPECT_EQ(g.xattrNamesMax, 64U << 10U);
    EXPECT_EQ(g.xattrEntryMax, 16U << 20U);
    EXPECT_EQ(g.changesHashCacheEntries, 0U);
    EXPECT_EQ(g.gitPackFilesMax, 10'000U);
    EXPECT_EQ(g.gitMappedPackMax, 1U << 20U);
    EXPECT_EQ(g.gitObjectCacheBytes, 0U);
    EXPECT_EQ(g.repositoryRecycleAfterFetches, 1'000'000U);
    EXPECT_EQ(g.repositoryMaxPacks, 0U);
    EXPECT_EQ(g.author, (Author{"Ada Lovelace", "ada@example.com"}));
}

TEST_F(FixedHomeTest, QuotedTildeIsTheHomeDirectory) {
    Config config = parseConfig("cache_dir: \"~\"\n", "config.yaml");
    EXPECT_EQ(config.global.cacheDir, "/home/tester");
}

TEST_F(FixedHomeTest, MountDefaults) {
    Config config = parseConfig(
        "mounts:\n"
        "  - name: linux\n"
        "    source: git://127.0.0.1/linux.git\n"
        "    mountpoint: ~/src/linux\n",
        "config.yaml");
    ASSERT_EQ(config.mounts.size(), 1U);
    MountConfig expected;
    expected.name = "linux";
    expected.source = {SourceConfig::Kind::GitUrl, "git://127.0.0.1/linux.git", "/", {}};
    expected.mountpoint = "/home/tester/src/linux";
    EXPECT_EQ(config.mounts[0], expected);
    EXPECT_EQ(config.mounts[0].revision, "HEAD");
    EXPECT_EQ(config.mounts[0].subPath, "");
    EXPECT_FALSE(config.mounts[0].writable);
    EXPECT_TRUE(config.mounts[0].automount);
    EXPECT_EQ(config.mounts[0].effectiveFetchTimeout(config.global), milliseconds(30'000));
    EXPECT_EQ(config.mounts[0].effectiveFetchConcurrency(config.global), 2U);
    EXPECT_EQ(config.mounts[0].effectiveAttrTimeout(config.global), std::chrono::hours(1));
}

TEST_F(FixedHomeTest, MountWithEveryKey) {
    Config config = parseConfig(
        "mounts:\n"
        "  - name: Tools_1.x-y\n"
        "    source: ~/git/tools/\n"
        "    revision: 0123abcd\n"
        "    path: /drivers//net/\n"
        "    mountpoint: /mnt/tools/\n"
        "    writable: True\n"
        "    automount: FALSE\n"
        "    fetch_timeout: 1.5m\n"
        "    fetch_concurrency: 4\n"
        "    attr_timeout: 250ms\n",
        "config.yaml");
    ASSERT_EQ(config.mounts.size(), 1U);
    const MountConfig& m = config.mounts[0];
    EXPECT_EQ(m.name, "Tools_1.x-y");
    EXPECT_EQ(m.source.kind, SourceConfig::Kind::LocalPath);
    EXPECT_EQ(m.source.location, "/home/tester/git/tools");
    EXPECT_EQ(m.revision, "0123abcd");
    EXPECT_EQ(m.subPath, "drivers/net");
    EXPECT_EQ(m.mountpoint, "/mnt/tools");
    EXPECT_TRUE(m.writable);
    EXPECT_FALSE(m.automount);
    EXPECT_EQ(m.fetchTimeout, milliseconds(90'000));
    EXPECT_EQ(m.fetchConcurrency, 4U);
    EXPECT_EQ(m.attrTimeout, milliseconds(250));
    EXPECT_EQ(m.effectiveAttrTimeout(config.global), milliseconds(250));
    EXPECT_EQ(config.findMount("Tools_1.x-y"), &m);
    EXPECT_EQ(config.findMount("tools"), nullptr);
}

TEST_F(FixedHomeTest, SourceForms) {
    Config config = parseConfig(
        "mounts:\n"
        "  - {name: a, mountpoint: /m/a, source: /srv/repo.git}\n"
        "  - {name: b, mountpoint: /m/b, source: \"file:///srv/repo.git\"}\n"
        "  - {name: c, mountpoint: /m/c, source: \"HTTPS://Example.com/r.git\"}\n"
        "  - {name: d, mountpoint: /m/d, source: \"http://u:pw@example.com:8080/r\"}\n"
        "  - name: e\n"
        "    mountpoint: /m/e\n"
        "    source: {mega: \"https://mega.example.com\", path: /project/, token_file: "
        "~/.mega}\n"
        "  - {name: f, mountpoint: /m/f, source: {mega: \"http://127.0.0.1:8000\"}}\n",
        "config.yaml");
    ASSERT_EQ(config.mounts.size(), 6U);
    using K = SourceConfig::Kind;
    EXPECT_EQ(config.mounts[0].source, (SourceConfig{K::LocalPath, "/srv/repo.git", "/", {}}));
    EXPECT_EQ(config.mounts[1].source, (SourceConfig{K::GitUrl, "file:///srv/repo.git", "/", {}}));
    EXPECT_EQ(config.mounts[2].source,
              (SourceConfig{K::GitUrl, "https://Example.com/r.git", "/", {}}));
    EXPECT_EQ(config.mounts[3].source.describe(), "http://u:***@example.com:8080/r");
    EXPECT_EQ(config.mounts[4].source, (SourceConfig{K::Mega, "https://mega.example.com",
                                                     "/project", "/home/tester/.mega"}));
    EXPECT_EQ(config.mounts[4].source.describe(), "https://mega.example.com (path /project)");
    EXPECT_EQ(config.mounts[5].source, (SourceConfig{K::Mega, "http://127.0.0.1:8000", "/", {}}));
    EXPECT_EQ(config.mounts[5].source.refreshInterval, std::chrono::seconds(60));
}

TEST_F(FixedHomeTest, AMegaRefreshIntervalOfZeroTurnsRefreshOff) {
    Config config = parseConfig(
        "mounts:\n"
        "  - {name: a, mountpoint: /m/a, source: {mega: \"http://m\", refresh_interval: 0s}}\n"
        "  - {name: b, mountpoint: /m/b, source: {mega: \"http://m\", refresh_interval: 5m}}\n",
        "config.yaml");
    ASSERT_EQ(config.mounts.size(), 2U);
    EXPECT_EQ(config.mounts[0].source.refreshInterval.count(), 0);
    EXPECT_EQ(config.mounts[1].source.refreshInterval, std::chrono::minutes(5));
}

TEST_F(FixedHomeTest, SiblingMountpointsSharingAPrefixAreFine) {
    Config config = parseConfig(
        "mounts:\n"
        "  - {name: a, source: /r, mountpoint: /src/linux}\n"
        "  - {name: b, source: /r, mountpoint: /src/linux2}\n"
        "  - {name: c, source: /r, mountpoint: /src/linux-next}\n",
        "config.yaml");
    EXPECT_EQ(config.mounts.size(), 3U);
}

TEST(RedactUrlPassword, HidesOnlyThePassword) {
    EXPECT_EQ(redactUrlPassword("https://u:p@h/r"), "https://u:***@h/r");
    EXPECT_EQ(redactUrlPassword("https://u:p@ss@h/r@x"), "https://u:***@h/r@x");
    EXPECT_EQ(redactUrlPassword("https://u@h/r"), "https://u@h/r");
    EXPECT_EQ(redactUrlPassword("https://h/a:b@c"), "https://h/a:b@c");
    EXPECT_EQ(redactUrlPassword("/srv/r:x@y"), "/srv/r:x@y");
}

// --- files ---------------------------------------------------------------------------------

class ConfigFileTest : public FixedHomeTest {
protected:
    void SetUp() override {
        FixedHomeTest::SetUp();
        dir_ = fs::temp_directory_path() / ("mf-config-test-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path write(const std::string& name, const std::string& text) {
        fs::path path = dir_ / name;
        std::ofstream(path) << text;
        return path;
    }

    fs::path dir_;
};

TEST_F(ConfigFileTest, MissingFileNamesPathAndErrno) {
    fs::path path = dir_ / "none.yaml";
    try {
        loadConfigFile(path);
        FAIL() << "loaded a missing file";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path.string() + ": cannot read configuration file: No such file or directory");
        ASSERT_EQ(e.issues().size(), 1U);
        EXPECT_EQ(e.issues()[0].kind, ConfigIssueKind::Unreadable);
    }
}

TEST_F(ConfigFileTest, DirectoryIsRefused) {
    try {
        loadConfigFile(dir_);
        FAIL() << "loaded a directory";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  dir_.string() + ": cannot read configuration file: Is a directory");
    }
}

TEST_F(ConfigFileTest, HugeFileIsRefusedUnparsed) {
    fs::path path = write("huge.yaml", std::string(kMaxConfigFileBytes + 1, '#'));
    try {
        loadConfigFile(path);
        FAIL() << "loaded a huge file";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path.string() + ": is larger than 1MiB; not a configuration file?");
    }
}

TEST_F(ConfigFileTest, IssuesNameTheFile) {
    fs::path path = write("config.yaml", "log_level: info\nmounts:\n  - name: a\n");
    try {
        loadConfigFile(path);
        FAIL() << "loaded a bad file";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path.string() + ":3:5: mounts[0].source: missing required key\n" + path.string() +
                      ":3:5: mounts[0].mountpoint: missing required key");
    }
}

TEST_F(ConfigFileTest, GoodFileLoads) {
    fs::path path = write("config.yaml",
                          "log_level: warn\n"
                          "mounts:\n"
                          "  - {name: a, source: /r, mountpoint: /m}\n");
    Config config = loadConfigFile(path);
    EXPECT_EQ(config.global.logLevel, "warn");
    ASSERT_EQ(config.mounts.size(), 1U);
    EXPECT_EQ(config.mounts[0].name, "a");
}

// --- built-in default --------------------------------------------------------------------------

TEST_F(FixedHomeTest, DefaultConfigMountsTheDemoRepository) {
    Config config = defaultConfig("/srv/demo.git", "/tmp/demo");
    ASSERT_EQ(config.mounts.size(), 1U);
    const MountConfig& m = config.mounts[0];
    EXPECT_EQ(m.name, "demo");
    EXPECT_EQ(m.source, (SourceConfig{SourceConfig::Kind::LocalPath, "/srv/demo.git", "/", {}}));
    EXPECT_EQ(m.mountpoint, "/tmp/demo");
    EXPECT_EQ(m.revision, "HEAD");
    EXPECT_FALSE(m.writable);
    EXPECT_TRUE(m.automount);
    EXPECT_EQ(config.global, GlobalSettings{});
}

TEST_F(FixedHomeTest, DefaultConfigQuotesAwkwardPaths) {
    const std::string awkward = R"(/srv/my "demo": #1\repo)";
    Config config = defaultConfig(awkward, "/tmp/x: y");
    EXPECT_EQ(config.mounts.at(0).source.location, awkward);
    EXPECT_EQ(config.mounts.at(0).mountpoint, "/tmp/x: y");
}

TEST_F(FixedHomeTest, DefaultConfigMakesRelativePathsAbsolute) {
    Config config = defaultConfig("repo", "mnt");
    EXPECT_EQ(config.mounts.at(0).source.location, (fs::current_path() / "repo").string());
    EXPECT_EQ(config.mounts.at(0).mountpoint, fs::current_path() / "mnt");
}

TEST_F(FixedHomeTest, DefaultConfigRejectsImpossibleMountpoint) {
    try {
        defaultConfig("/srv/demo.git", "/");
        FAIL() << "accepted / as mountpoint";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "<built-in default>:8:17: mounts[0].mountpoint: must not be the root directory "
                  "(got \"/\")");
    }
}

TEST_F(FixedHomeTest, DefaultConfigTextIsTheTemplateFilledIn) {
    std::string text = defaultConfigText("/srv/demo.git", "/tmp/demo");
    EXPECT_NE(text.find("    source: \"/srv/demo.git\"\n"), std::string::npos) << text;
    EXPECT_NE(text.find("    mountpoint: \"/tmp/demo\"\n"), std::string::npos) << text;
    EXPECT_EQ(text.find('@'), std::string::npos) << text;
}

}  // namespace
}  // namespace megafuse::config
