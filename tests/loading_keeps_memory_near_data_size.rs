//! Loading a volume keeps voxels in their stored type and peak heap memory
//! under 1.3 × the voxel data, for plain and gzipped files.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use loupe::synth::phantom;
use loupe::volume::{self, SampleType, nifti};

/// Counts live heap bytes and remembers the peak.
struct PeakCounter;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn record_growth(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

unsafe impl GlobalAlloc for PeakCounter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record_growth(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record_growth(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            record_growth(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakCounter = PeakCounter;

#[test]
fn peak_heap_while_loading_stays_under_1_3_times_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let generated = phantom::ct_phantom(128, 3);
    let data_bytes = generated.data.size_bytes();
    let paths = [dir.path().join("ct.nii"), dir.path().join("ct.nii.gz")];
    for path in &paths {
        nifti::write_nifti1(&generated, path).unwrap();
    }
    drop(generated);

    for path in &paths {
        let before = LIVE.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        let loaded = volume::load(path).unwrap();
        let peak = PEAK.load(Ordering::SeqCst) - before;
        assert_eq!(
            loaded.data.sample_type(),
            SampleType::I16,
            "int16 stays int16"
        );
        assert_eq!(loaded.data.size_bytes(), data_bytes);
        assert!(
            (peak as f64) < 1.3 * data_bytes as f64,
            "{}: peak heap {peak} bytes for {data_bytes} bytes of voxels",
            path.display()
        );
    }
}
