// SampleRepo: the tree below is what "every entry kind" means for the suite; keep contents
// unique per path (see the header).
#include "support/SampleRepo.hpp"

#include "support/RepoBuilder.hpp"

namespace megafuse::test {

SampleRepo SampleRepo::build(const std::filesystem::path& dir) {
    RepoBuilder repo(dir);
    repo.writeFile("README.md", "mega-fuse sample repository\n");
    repo.writeFile("empty", "");
    repo.writeFile("run.sh", "#!/bin/sh\necho run\n", true);
    repo.writeFile("gone.txt", "deleted on main later\n");
    repo.writeFile("a/top.txt", "a/top.txt: becomes executable on main\n");
    repo.writeFile("a/b/one.txt", "a/b/one.txt: the file the laziness test reads\n");
    repo.writeFile("a/b/two.txt", "a/b/two.txt: first version\n");
    repo.writeFile("a/b/tool", "#!/bin/sh\necho a/b/tool\n", true);
    repo.writeFile("a/b/empty-in-b", "");  // same blob as "empty": shared ids are normal in Git
    repo.symlink("a/b/link-to-one", "one.txt");
    repo.writeFile("a/b/c/d/deep.txt", "a/b/c/d/deep.txt: four levels down\n");
    repo.writeFile("a/b/c/sibling.txt", "a/b/c/sibling.txt\n");
    repo.writeFile("with space/file name.txt", "with space/file name.txt\n");
    repo.writeFile("na\xc3\xafve \xe2\x9c\x93.txt", "naive check mark (UTF-8 name)\n");
    repo.writeFile("\001ctl", "name starts with byte 1\n");
    repo.writeFile("\xff\xfe", "name is not UTF-8\n");
    repo.writeFile("tab\tname", "name holds a tab\n");
    repo.writeFile("new\nline", "name holds a newline\n");
    repo.writeFile("bytes.bin", std::string("\x00\x01\x02\xff\x00binary\n", 11));
    repo.symlink("links/relative", "../README.md");
    repo.symlink("links/absolute", "/etc/hostname");
    repo.symlink("links/dangling", "does/not/exist");
    repo.symlink("links/to-dir", "../a/b");
    repo.symlink("links/to-self-dir", ".");
    repo.gitlink("sub/module", kGitlinkTarget);

    SampleRepo sample;
    sample.dir = dir;
    sample.olderCommit = repo.commit("first: every entry kind");

    repo.writeFile("README.md", "mega-fuse sample repository, edited on main\n");
    repo.remove("gone.txt");
    repo.writeFile("new/added.txt", "new/added.txt: added on main\n");
    repo.writeFile("a/top.txt", "a/top.txt: becomes executable on main\n", true);
    repo.writeFile("a/b/two.txt", "a/b/two.txt: second version, on main\n");
    repo.remove("links/relative");
    repo.symlink("links/relative", "../run.sh");
    repo.remove("a/b/c/sibling.txt");
    repo.symlink("a/b/c/sibling.txt", "d/deep.txt");  // a file became a symlink
    sample.mainCommit = repo.commit("second: edit, delete, add, chmod, retarget");

    repo.branch(kFeatureBranch, sample.olderCommit);
    repo.switchTo(kFeatureBranch);
    repo.writeFile("feature.txt", "feature.txt: only on the feature branch\n");
    repo.writeFile("a/b/one.txt", "a/b/one.txt: feature version\n");
    repo.remove("sub");
    sample.featureCommit = repo.commit("feature: diverges from first");
    repo.switchTo(kMainBranch);

    repo.lightweightTag(kLightweightTag, sample.olderCommit);
    repo.annotatedTag(kAnnotatedTag, sample.featureCommit, "annotated tag on feature");
    return sample;
}

}  // namespace megafuse::test
