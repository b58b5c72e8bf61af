//! Giving back to the system the heap that a replaced snapshot freed.
//!
//! glibc's malloc keeps freed memory in its arenas: a snapshot of 5,000 units replaced by another (each
//! unit copied once when a mirror's fetch changes its figures, say) leaves the old copies' pages resident
//! for good, so the console's RSS stays at its peak. `malloc_trim` returns the free pages of every arena.
//! The console asks for it once the snapshots have been quiet for [`QUIET`] after a large one.

use std::time::Duration;

/// How long after the last large snapshot the heap is trimmed (a burst of snapshots, once).
pub const QUIET: Duration = Duration::from_millis(500);

/// Units in a snapshot from which replacing it is worth a trim.
pub const LARGE: usize = 1000;

/// Returns the free pages of the heap to the system (blocking: a few milliseconds for tens of MB).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes no pointer and only releases free memory; glibc locks each arena
        // while it trims it, so other threads may allocate meanwhile.
        let released = unsafe { malloc_trim(0) };
        tracing::debug!(released, "heap trimmed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_small_allocations_go_back_to_the_system_when_trimmed() {
        // small allocations (below the mmap threshold) come from the arena, and stay resident after free
        // while a later one pins the arena's top
        let mut many: Vec<Box<[u8; 512]>> = (0..80_000).map(|_| Box::new([1u8; 512])).collect();
        let pin = Box::new([2u8; 512]);
        let full = rss_kb();
        many.clear();
        many.shrink_to_fit();
        let freed = rss_kb();
        trim();
        let trimmed = rss_kb();
        assert!(pin[0] == 2);
        assert!(
            trimmed + 20_000 < freed,
            "RSS {full} kB full, {freed} kB freed, {trimmed} kB trimmed"
        );
    }
}
