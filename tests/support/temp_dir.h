// A directory under $TMPDIR (or /tmp) that is removed when the test ends.
#ifndef GRIDCASE_TESTS_SUPPORT_TEMP_DIR_H_
#define GRIDCASE_TESTS_SUPPORT_TEMP_DIR_H_

#include <string>

namespace gridcase::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The whole contents of the file at `path` (empty when it cannot be read).
std::string ReadFile(const std::string& path);
// Replaces the file at `path` with `bytes`; fails the test if it cannot.
void WriteFile(const std::string& path, const std::string& bytes);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_TEMP_DIR_H_
