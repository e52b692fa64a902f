#include "recsys/core/parallel.h"

#include <omp.h>

#include <cstdlib>
#include <mutex>

#include <dlfcn.h>

// libblas.so is an alternatives link; when it is OpenBLAS it exports
// openblas_set_num_threads, which is looked up at run time.
using OpenBlasSetThreads = void (*)(int);

namespace recsys {

void LimitThirdPartyThreads() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Only effective before the OpenMP runtime starts; harmless afterwards.
    setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
    if (auto fn = reinterpret_cast<OpenBlasSetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
      fn(1);
    }
    omp_set_num_threads(1);
  });
  omp_set_num_threads(1);
}

void SingleThreadedOpenMP() { omp_set_num_threads(1); }

}  // namespace recsys
