//! Allocator settings made once at start. A process-wide setting, so it
//! belongs to the binary (`main.rs`), not to the library; the benchmark
//! includes this file by path to run the exporter as the binary does.

/// An uncompressed `/metrics` body at 1,000 environments is 8 MiB. glibc
/// serves blocks that large with `mmap` and unmaps them on `free`, until the
/// first such `free` raises its threshold above them (its dynamic threshold):
/// from then on they come from the heap, which keeps the freed pages, and
/// resident memory stays about 30 MiB higher (BENCHMARKS.md). A fixed
/// threshold keeps every block of 1 MiB or more out of the heap. An operator
/// who sets `MALLOC_MMAP_THRESHOLD_` keeps their own value.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn return_large_blocks_to_the_system() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return;
    }
    // SAFETY: mallopt only sets an allocator parameter; it is called at start,
    // before any other thread exists. A failure (return 0) leaves glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn return_large_blocks_to_the_system() {}
