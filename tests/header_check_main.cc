// The object files of this binary each include one public header alone (see
// tests/CMakeLists.txt); building it is the test.
#include <cstdio>
int main() {
  std::puts("every public header compiled on its own");
  return 0;
}
