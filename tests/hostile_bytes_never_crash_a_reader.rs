//! Random bytes and mutated real files (NIfTI headers, gzip streams,
//! PNG/JPEG/TIFF/BMP, DICOM of every transfer syntax, label CSVs, cases CSVs, label maps, training
//! configurations, schema JSON) fed to Loupe's readers, the time shared among them: each
//! must answer with a value or an error, never a panic, an abort or a hang.
//!
//! `cargo test` spends at most `LOUPE_FUZZ_SECONDS` (default 20) here. A
//! longer run of the same generator is one command:
//!
//! ```sh
//! LOUPE_FUZZ_SECONDS=1800 LOUPE_FUZZ_SEED=7 cargo test --release --test hostile_bytes_never_crash_a_reader -- --nocapture
//! ```
//!
//! An input that makes a reader panic is written to `tests/fuzz_cases/`
//! (as `<case>--<file name>`); every file there is replayed on each run, so
//! a crash once found stays a test. An abort (a failed allocation) cannot
//! be caught: the input being read is always on disk under the test's
//! target folder (the path is printed), to be copied there by hand.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loupe::store::Schema;
use loupe::store::import::LabelTable;
use loupe::synth::Rng;

/// The readers, by the kind of input they take.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// `volume::load` on a file with this name (NIfTI or raster by extension).
    Volume,
    LabelCsv,
    SchemaJson,
    /// A cases CSV checked against a project of the lung demo's schema.
    CasesCsv,
    /// A label map read on its case's 8³ grid and turned into labels.
    LabelMap,
    /// A `--config` file of `loupe train`.
    TrainConfig,
}

struct Seed {
    name: String,
    bytes: Vec<u8>,
    reader: Reader,
}

fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let nifti = common::shared_data().join("nifti");
    if let Ok(entries) = std::fs::read_dir(&nifti) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            // Small files only: each is read thousands of times.
            if loupe::volume::is_nifti_name(Path::new(&name)) && bytes.len() <= 70_000 {
                seeds.push(Seed {
                    name,
                    bytes,
                    reader: Reader::Volume,
                });
            }
        }
    }
    // DICOM: every committed fixture file (one per transfer syntax and colour model).
    let dicom = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dicom/files");
    if let Ok(entries) = std::fs::read_dir(&dicom) {
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let bytes = std::fs::read(&path).unwrap_or_default();
            seeds.push(Seed {
                // `.dcm` whatever the fixture is called: read by content either way.
                name: format!(
                    "{}.dcm",
                    path.file_stem().unwrap_or_default().to_string_lossy()
                ),
                bytes,
                reader: Reader::Volume,
            });
        }
    }
    if let Ok(bytes) = std::fs::read(common::shared_data().join("fundus/microaneurysms.png")) {
        seeds.push(Seed {
            name: "fundus.png".into(),
            bytes,
            reader: Reader::Volume,
        });
    }
    let picture =
        image::RgbImage::from_fn(24, 16, |x, y| image::Rgb([x as u8 * 9, y as u8 * 13, 77]));
    for (name, format) in [
        ("small.png", image::ImageFormat::Png),
        ("small.jpg", image::ImageFormat::Jpeg),
        ("small.tif", image::ImageFormat::Tiff),
        ("small.bmp", image::ImageFormat::Bmp),
    ] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        picture.write_to(&mut bytes, format).expect("encodes");
        seeds.push(Seed {
            name: name.into(),
            bytes: bytes.into_inner(),
            reader: Reader::Volume,
        });
    }
    seeds.push(Seed {
        name: "labels.csv".into(),
        bytes: b"\xef\xbb\xbfid,path,pool,annotator,stage,zone,plus,labeled_at\r\n1,a/x.png,labeled,ana,Stage 1,II,none,2026-01-01T10:00:00.000Z\n2,\"b,\"\"q\"\".png\",test,'=ben,Normal,,,\r3,c.png,unlabeled,,,,,\n"
            .to_vec(),
        reader: Reader::LabelCsv,
    });
    seeds.push(Seed {
        name: "pairs.csv".into(),
        bytes: b"a.png,stage=Stage 2,zone=I\nb.png,plus=plus\n".to_vec(),
        reader: Reader::LabelCsv,
    });
    let map = loupe::store::label_maps::map_volume(
        &loupe::synth::phantom::ct_phantom(8, 4),
        (0..512).map(|i| (i % 5) as u8).collect(),
    );
    seeds.push(Seed {
        name: "case_labels.nii.gz".into(),
        bytes: loupe::volume::nifti::encode_nifti1(&map, true).unwrap(),
        reader: Reader::LabelMap,
    });
    seeds.push(Seed {
        name: "cases.csv".into(),
        bytes: b"case,ct,age,sex,pack_years,smoking,cancer,pool
A,,61,male,20,former,yes,
B,,70,female,0,never,,test
"
        .to_vec(),
        reader: Reader::CasesCsv,
    });
    seeds.push(Seed {
        name: "config.json".into(),
        bytes: serde_json::to_vec_pretty(&loupe::train::config::TrainConfig::default()).unwrap(),
        reader: Reader::TrainConfig,
    });
    seeds.push(Seed {
        name: "schema.json".into(),
        bytes: serde_json::to_vec_pretty(&Schema::rop()).unwrap(),
        reader: Reader::SchemaJson,
    });
    seeds
}

/// Values that break parsers: zero, ones, sign bits, type limits.
const INTERESTING: [u64; 10] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    u64::MAX,
];

/// A uniform index below `n` (n > 0).
fn below(rng: &mut Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let rounds = 1 + below(rng, 4);
    for _ in 0..rounds {
        if out.is_empty() {
            out.push(rng.next_u64() as u8);
        }
        // Headers are at the front: mutate there more often.
        let span = if below(rng, 2) == 0 {
            out.len().min(600)
        } else {
            out.len()
        };
        let at = below(rng, span);
        match below(rng, 7) {
            0 => out[at] ^= 1 << below(rng, 8),
            1 => out[at] = INTERESTING[below(rng, INTERESTING.len())] as u8,
            2 => {
                let width = [2, 4, 8][below(rng, 3)];
                let value = INTERESTING[below(rng, INTERESTING.len())].to_le_bytes();
                let n = width.min(out.len() - at);
                out[at..at + n].copy_from_slice(&value[..n]);
            }
            3 => out.truncate(at),
            4 => {
                let end = (at + 1 + below(rng, 64)).min(out.len());
                let chunk = out[at..end].to_vec();
                let to = below(rng, out.len());
                out.splice(to..to, chunk);
            }
            5 => out[at] = rng.next_u64() as u8,
            _ => {
                let end = (at + 1 + below(rng, 16)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

/// Mutated input for a seed: gzipped seeds are mutated inside the stream
/// as often as outside it (a damaged header behind a valid gzip).
fn hostile_input(seed: &Seed, rng: &mut Rng) -> Vec<u8> {
    if seed.name.ends_with(".gz") && below(rng, 2) == 0 {
        use std::io::{Read, Write};
        let mut plain = Vec::new();
        if flate2::read::MultiGzDecoder::new(&seed.bytes[..])
            .read_to_end(&mut plain)
            .is_ok()
        {
            let mutated = mutate(&plain, rng);
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&mutated).unwrap();
            return encoder.finish().unwrap();
        }
    }
    if below(rng, 50) == 0 {
        return (0..below(rng, 2048))
            .map(|_| rng.next_u64() as u8)
            .collect();
    }
    mutate(&seed.bytes, rng)
}

/// Feeds one input to its reader; `Err` with the panic message when it panicked.
fn feed(dir: &Path, name: &str, reader: Reader, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    if name.ends_with(".hdr") {
        // The pair's data file beside it (the seed's own, unmutated).
        let img = common::shared_data()
            .join("nifti")
            .join(name.replace(".hdr", ".img"));
        let _ = std::fs::copy(img, path.with_extension("img"));
    }
    let fields = Schema::rop().field_names();
    std::panic::catch_unwind(|| match reader {
        Reader::Volume => {
            let _ = loupe::volume::load(&path);
        }
        Reader::LabelCsv => {
            let _ = LabelTable::parse(&String::from_utf8_lossy(bytes), &fields);
        }
        Reader::SchemaJson => {
            let _ = Schema::from_json(&String::from_utf8_lossy(bytes));
        }
        Reader::CasesCsv => CASES_PROJECT.with(|(_, project)| {
            let _ = loupe::store::cases::read_cases(&path, project);
        }),
        Reader::LabelMap => {
            if let Ok(map) = loupe::volume::load_on_grid(&path, [8, 8, 8]) {
                let _ = loupe::store::label_maps::label_voxels(&map);
            }
        }
        Reader::TrainConfig => {
            if let Ok(config) = loupe::train::presets::read_config_file(&path) {
                let _ = config.validate();
            }
        }
    })
    .map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

thread_local! {
    /// One project with cases (the lung demo's schema) for every cases CSV.
    static CASES_PROJECT: (tempfile::TempDir, loupe::store::Project) = {
        let dir = tempfile::tempdir().unwrap();
        let options = loupe::demo::DemoOptions {
            count: 4,
            size: 16,
            ..loupe::demo::DemoOptions::new(loupe::demo::DemoTask::Lung)
        };
        let root = dir.path().join("lung");
        loupe::demo::write_demo(&root, &options, |_, _| {}).unwrap();
        let project = loupe::store::Project::open(&root).unwrap();
        (dir, project)
    };
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_cases")
}

fn reader_for(name: &str) -> Reader {
    if name.ends_with("_labels.nii.gz") {
        Reader::LabelMap
    } else if name.ends_with("cases.csv") {
        Reader::CasesCsv
    } else if name.ends_with("config.json") {
        Reader::TrainConfig
    } else if name.ends_with(".csv") {
        Reader::LabelCsv
    } else if name.ends_with(".json") {
        Reader::SchemaJson
    } else {
        Reader::Volume
    }
}

#[test]
fn kept_crash_cases_are_read_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let Ok(entries) = std::fs::read_dir(cases_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let stored = entry.file_name().to_string_lossy().into_owned();
        // Stored as `<case>--<name as read>`.
        let name = stored
            .split_once("--")
            .map_or(stored.as_str(), |(_, n)| n)
            .to_string();
        let bytes = std::fs::read(entry.path()).unwrap();
        if let Err(message) = feed(dir.path(), &name, reader_for(&name), &bytes) {
            panic!("kept case {stored} panics again: {message}");
        }
    }
}

#[test]
fn mutated_files_get_an_answer_not_a_crash() {
    let budget = Duration::from_secs(
        std::env::var("LOUPE_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );
    let base_seed: u64 = std::env::var("LOUPE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let seeds = seeds();
    assert!(
        seeds.len() >= 8,
        "the corpus is there ({} seeds)",
        seeds.len()
    );
    // Not a self-deleting temporary folder: if an input aborts the process
    // (an allocation failure cannot be caught), it is still on disk here.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-bytes-seed{base_seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    eprintln!(
        "hostile inputs are written to {} before each read; after an abort the last one written is the culprit",
        dir.display()
    );
    let dir = dir.as_path();
    let started = Instant::now();
    let mut rng = Rng::new(base_seed);
    let rng = &mut rng;
    let mut inputs = 0usize;
    let mut crashes = Vec::new();
    while started.elapsed() < budget {
        let seed = &seeds[inputs % seeds.len()];
        let input = hostile_input(seed, rng);
        inputs += 1;
        if let Err(message) = feed(dir, &seed.name, seed.reader, &input) {
            let cases = cases_dir();
            let _ = std::fs::create_dir_all(&cases);
            let kept = cases.join(format!("seed{base_seed}-input{inputs}--{}", seed.name));
            let _ = std::fs::write(&kept, &input);
            crashes.push(format!(
                "{}: {message} (kept as {})",
                seed.name,
                kept.display()
            ));
        }
    }
    eprintln!(
        "{inputs} hostile inputs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        crashes.is_empty(),
        "readers panicked:\n{}",
        crashes.join("\n")
    );
}
