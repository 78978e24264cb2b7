// Heap settings for processes that allocate and free tensors of megabytes on every run (see
// AllocatorTuning in OctetCLI). Only glibc has these knobs; elsewhere this does nothing.
#include "octet_kernels.h"
#include <stdlib.h>  // defines __GLIBC__ on glibc
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void octet_tune_allocator(long mmap_threshold, long trim_threshold) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
#else
    (void)mmap_threshold;
    (void)trim_threshold;
#endif
}

void octet_return_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
