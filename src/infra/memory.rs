//! What glibc's allocator keeps, and when it gives it back.
//!
//! glibc raises its mmap threshold each time a large block is freed, after
//! which blocks of that size come from per-thread arenas that it keeps: an
//! Argon2 work area (19 MiB) released and allocated again, or the buffers
//! of 2,000 connections once they close, would stay in the process for
//! good. A fixed threshold keeps large blocks in their own mappings (freed
//! straight back to the system), and a periodic trim returns the free pages
//! that small blocks leave in the arenas.

/// Blocks from this size up get their own mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Fixes the mmap threshold; call once at start, before other threads.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; setting
    // M_MMAP_THRESHOLD also turns off its dynamic adjustment.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Returns free pages to the system.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory no allocation is using.
    unsafe {
        libc::malloc_trim(0);
    }
}
