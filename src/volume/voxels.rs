//! Voxel storage in the type the file stored, with conversion on request.
//!
//! An int16 CT stays `Vec<i16>` in memory (half the size of f32); values are
//! widened to `f64` only for the voxels a caller asks for.

/// The stored element type of a volume's samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl SampleType {
    /// Size of one sample in bytes.
    pub fn size_bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// numpy-style name (`"int16"`, `"float32"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::U16 => "uint16",
            Self::I16 => "int16",
            Self::U32 => "uint32",
            Self::I32 => "int32",
            Self::U64 => "uint64",
            Self::I64 => "int64",
            Self::F32 => "float32",
            Self::F64 => "float64",
        }
    }
}

/// Samples in their stored type, channel-interleaved (`channels` per voxel).
#[derive(Clone, Debug, PartialEq)]
pub enum VoxelData {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Runs `$body` with `$v` bound to the inner `Vec` of whichever variant `$data` is.
macro_rules! with_samples {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::volume::VoxelData::U8($v) => $body,
            $crate::volume::VoxelData::I8($v) => $body,
            $crate::volume::VoxelData::U16($v) => $body,
            $crate::volume::VoxelData::I16($v) => $body,
            $crate::volume::VoxelData::U32($v) => $body,
            $crate::volume::VoxelData::I32($v) => $body,
            $crate::volume::VoxelData::U64($v) => $body,
            $crate::volume::VoxelData::I64($v) => $body,
            $crate::volume::VoxelData::F32($v) => $body,
            $crate::volume::VoxelData::F64($v) => $body,
        }
    };
}
pub(crate) use with_samples;

/// A stored sample that can be widened to `f64` for display and statistics.
pub trait Sample: bytemuck::Pod + Copy + Default + Send + Sync + 'static {
    /// Number of distinct values for types small enough to tabulate (8 and
    /// 16 bit integers), else 0. Renderers map such types through a lookup table.
    const TABLE_SIZE: usize = 0;
    /// Position of this value in a table of `TABLE_SIZE` entries.
    fn table_index(self) -> usize {
        0
    }
    /// The value at a table position.
    fn from_table_index(_index: usize) -> f64 {
        0.0
    }
    fn to_f64(self) -> f64;
    /// A value of this type from `f64`: rounded to the nearest integer
    /// (saturating) for integer types, as [`VoxelData::from_f64_iter`] does.
    fn from_f64(value: f64) -> Self;
    /// Reverses the byte order in place (big-endian files).
    fn swap_bytes_in_place(values: &mut [Self]);
}

macro_rules! impl_sample_int {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            fn from_f64(value: f64) -> Self { value.round() as $t }
            fn swap_bytes_in_place(values: &mut [Self]) {
                for v in values { *v = v.swap_bytes(); }
            }
        }
    )*};
}
impl_sample_int!(u32, i32, u64, i64);

macro_rules! impl_sample_small_int {
    ($($t:ty, $unsigned:ty);*) => {$(
        impl Sample for $t {
            const TABLE_SIZE: usize = 1 << <$t>::BITS;
            #[inline]
            fn table_index(self) -> usize {
                // Offset signed types so MIN maps to 0.
                (self as $unsigned ^ (<$t>::MIN as $unsigned)) as usize
            }
            fn from_table_index(index: usize) -> f64 {
                ((index as $unsigned) ^ (<$t>::MIN as $unsigned)) as $t as f64
            }
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            fn from_f64(value: f64) -> Self { value.round() as $t }
            fn swap_bytes_in_place(values: &mut [Self]) {
                for v in values { *v = v.swap_bytes(); }
            }
        }
    )*};
}
impl_sample_small_int!(u8, u8; i8, u8; u16, u16; i16, u16);

impl Sample for f32 {
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn swap_bytes_in_place(values: &mut [Self]) {
        for v in values {
            *v = f32::from_bits(v.to_bits().swap_bytes());
        }
    }
}

impl Sample for f64 {
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f64(value: f64) -> Self {
        value
    }
    fn swap_bytes_in_place(values: &mut [Self]) {
        for v in values {
            *v = f64::from_bits(v.to_bits().swap_bytes());
        }
    }
}

impl VoxelData {
    /// Zero-filled storage for `len` samples of `sample_type`.
    ///
    /// Zeroed allocations come straight from the OS and are only paid for as
    /// they are written, so filling one by `read_exact` keeps peak memory at
    /// the size of the data.
    pub fn zeroed(sample_type: SampleType, len: usize) -> Self {
        match sample_type {
            SampleType::U8 => Self::U8(vec![0; len]),
            SampleType::I8 => Self::I8(vec![0; len]),
            SampleType::U16 => Self::U16(vec![0; len]),
            SampleType::I16 => Self::I16(vec![0; len]),
            SampleType::U32 => Self::U32(vec![0; len]),
            SampleType::I32 => Self::I32(vec![0; len]),
            SampleType::U64 => Self::U64(vec![0; len]),
            SampleType::I64 => Self::I64(vec![0; len]),
            SampleType::F32 => Self::F32(vec![0.0; len]),
            SampleType::F64 => Self::F64(vec![0.0; len]),
        }
    }

    /// [`VoxelData::zeroed`] for sizes a file asks for: `None` when the
    /// allocator cannot give that much, instead of aborting the process.
    pub fn try_zeroed(sample_type: SampleType, len: usize) -> Option<Self> {
        Some(match sample_type {
            SampleType::U8 => Self::U8(try_zeroed_vec(len)?),
            SampleType::I8 => Self::I8(try_zeroed_vec(len)?),
            SampleType::U16 => Self::U16(try_zeroed_vec(len)?),
            SampleType::I16 => Self::I16(try_zeroed_vec(len)?),
            SampleType::U32 => Self::U32(try_zeroed_vec(len)?),
            SampleType::I32 => Self::I32(try_zeroed_vec(len)?),
            SampleType::U64 => Self::U64(try_zeroed_vec(len)?),
            SampleType::I64 => Self::I64(try_zeroed_vec(len)?),
            SampleType::F32 => Self::F32(try_zeroed_vec(len)?),
            SampleType::F64 => Self::F64(try_zeroed_vec(len)?),
        })
    }

    pub fn sample_type(&self) -> SampleType {
        match self {
            Self::U8(_) => SampleType::U8,
            Self::I8(_) => SampleType::I8,
            Self::U16(_) => SampleType::U16,
            Self::I16(_) => SampleType::I16,
            Self::U32(_) => SampleType::U32,
            Self::I32(_) => SampleType::I32,
            Self::U64(_) => SampleType::U64,
            Self::I64(_) => SampleType::I64,
            Self::F32(_) => SampleType::F32,
            Self::F64(_) => SampleType::F64,
        }
    }

    /// Number of samples (voxels × channels).
    pub fn len(&self) -> usize {
        with_samples!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the stored samples in bytes.
    pub fn size_bytes(&self) -> usize {
        self.len() * self.sample_type().size_bytes()
    }

    /// The raw bytes, in native byte order, for filling from a reader.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        with_samples!(self, v => bytemuck::cast_slice_mut(v.as_mut_slice()))
    }

    /// The raw bytes in native byte order.
    pub fn as_bytes(&self) -> &[u8] {
        with_samples!(self, v => bytemuck::cast_slice(v.as_slice()))
    }

    /// Reverses every sample's byte order (after reading a big-endian file).
    pub fn swap_bytes(&mut self) {
        with_samples!(self, v => Sample::swap_bytes_in_place(v.as_mut_slice()))
    }

    /// Grows or shrinks to exactly `len` samples (new ones zero), without
    /// the doubling `Vec` growth would add: large reallocations move pages,
    /// not bytes, so memory stays at the data's size.
    /// Grows or shrinks to `len` samples; growing that the allocator cannot
    /// give is an error, not an abort.
    pub fn resize_exact(&mut self, len: usize) -> Result<(), std::collections::TryReserveError> {
        with_samples!(self, v => {
            if len > v.len() {
                v.try_reserve_exact(len - v.len())?;
            }
            v.resize(len, Default::default());
        });
        Ok(())
    }

    /// Smallest and largest sample widened to f64 (NaN-free data; `(inf, -inf)` when empty).
    pub fn min_max_f64(&self) -> (f64, f64) {
        fn fold<T: Sample>(values: &[T]) -> (f64, f64) {
            values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    let v = v.to_f64();
                    (lo.min(v), hi.max(v))
                })
        }
        with_samples!(self, v => fold(v))
    }

    /// Samples of `sample_type` from f64 values (rounded to integers where
    /// the type is one; the caller has checked they fit).
    pub fn from_f64_iter(sample_type: SampleType, values: impl Iterator<Item = f64>) -> Self {
        match sample_type {
            SampleType::U8 => Self::U8(values.map(|v| v.round() as u8).collect()),
            SampleType::I8 => Self::I8(values.map(|v| v.round() as i8).collect()),
            SampleType::U16 => Self::U16(values.map(|v| v.round() as u16).collect()),
            SampleType::I16 => Self::I16(values.map(|v| v.round() as i16).collect()),
            SampleType::U32 => Self::U32(values.map(|v| v.round() as u32).collect()),
            SampleType::I32 => Self::I32(values.map(|v| v.round() as i32).collect()),
            SampleType::U64 => Self::U64(values.map(|v| v.round() as u64).collect()),
            SampleType::I64 => Self::I64(values.map(|v| v.round() as i64).collect()),
            SampleType::F32 => Self::F32(values.map(|v| v as f32).collect()),
            SampleType::F64 => Self::F64(values.collect()),
        }
    }

    /// Appends `other`'s samples (of the same type; otherwise widened through f64).
    pub fn extend_from(&mut self, other: &VoxelData) {
        match (self, other) {
            (Self::U8(a), Self::U8(b)) => a.extend_from_slice(b),
            (Self::I8(a), Self::I8(b)) => a.extend_from_slice(b),
            (Self::U16(a), Self::U16(b)) => a.extend_from_slice(b),
            (Self::I16(a), Self::I16(b)) => a.extend_from_slice(b),
            (Self::U32(a), Self::U32(b)) => a.extend_from_slice(b),
            (Self::I32(a), Self::I32(b)) => a.extend_from_slice(b),
            (Self::F32(a), Self::F32(b)) => a.extend_from_slice(b),
            (Self::F64(a), Self::F64(b)) => a.extend_from_slice(b),
            (this, other) => {
                let t = this.sample_type();
                let joined: Vec<f64> = (0..this.len())
                    .chain(0..other.len())
                    .enumerate()
                    .map(|(n, i)| {
                        if n < this.len() {
                            this.get_f64(i)
                        } else {
                            other.get_f64(i)
                        }
                    })
                    .map(|v| v.unwrap_or(0.0))
                    .collect();
                *this = Self::from_f64_iter(t, joined.into_iter());
            }
        }
    }

    /// Sample `index` widened to f64 (unscaled). `None` past the end.
    pub fn get_f64(&self, index: usize) -> Option<f64> {
        with_samples!(self, v => v.get(index).map(|s| s.to_f64()))
    }
}

/// A zero-filled vector from the allocator's zeroed pages, or `None` when
/// it cannot give `len` elements.
fn try_zeroed_vec<T: bytemuck::Zeroable>(len: usize) -> Option<Vec<T>> {
    let layout = std::alloc::Layout::array::<T>(len).ok()?;
    if layout.size() == 0 {
        return Some(Vec::new());
    }
    // SAFETY: the layout has a non-zero size; `T: Zeroable` makes all-zero
    // bytes a valid `T`; the pointer comes from the global allocator with
    // exactly the layout of a `Vec<T>` of capacity `len`, which is what
    // `Vec::from_raw_parts` requires.
    unsafe {
        let pointer = std::alloc::alloc_zeroed(layout).cast::<T>();
        if pointer.is_null() {
            return None;
        }
        Some(Vec::from_raw_parts(pointer, len, len))
    }
}

/// Memory the system can still give this process (Linux: `MemAvailable`
/// plus free swap, and no more than the control group's limit leaves, as in
/// a container), or `None` where that is not known.
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    let system = field("MemAvailable:")? + field("SwapFree:").unwrap_or(0);
    let read = |file: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{file}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    // cgroup v2: "max" (no limit) does not parse and leaves the system figure.
    let group =
        read("memory.max").map(|max| max.saturating_sub(read("memory.current").unwrap_or(0)));
    let limited = group.map_or(system, |g| g.min(system));
    Some(address_space_left_bytes().map_or(limited, |a| a.min(limited)))
}

/// What this process's address-space limit (`ulimit -v`) still leaves, when
/// one is set: an allocation past it fails however much memory is free.
fn address_space_left_bytes() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    // "Max address space   <soft>   <hard>   bytes"; "unlimited" does not parse.
    let soft: u64 = line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(soft.saturating_sub(used_kib * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_bytes_round_trips_every_type() {
        let mut data = VoxelData::I16(vec![0x0102, -2]);
        data.swap_bytes();
        assert_eq!(data, VoxelData::I16(vec![0x0201, (-2i16).swap_bytes()]));
        let mut f = VoxelData::F32(vec![1.5, -3.25]);
        f.swap_bytes();
        f.swap_bytes();
        assert_eq!(f, VoxelData::F32(vec![1.5, -3.25]));
    }

    #[test]
    fn lookup_tables_round_trip() {
        for v in [i16::MIN, -1, 0, 7, i16::MAX] {
            assert_eq!(i16::from_table_index(v.table_index()), v as f64);
        }
        for v in [0u8, 9, 255] {
            assert_eq!(u8::from_table_index(v.table_index()), v as f64);
        }
        assert_eq!(<u16 as Sample>::TABLE_SIZE, 65536);
    }

    #[test]
    fn stored_type_is_kept() {
        let data = VoxelData::zeroed(SampleType::I16, 10);
        assert_eq!(data.size_bytes(), 20);
        assert_eq!(data.get_f64(9), Some(0.0));
        assert_eq!(data.get_f64(10), None);
    }
}
