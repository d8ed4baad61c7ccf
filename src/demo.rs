//! Ready-to-use demo projects: synthetic ROP fundus photographs or thyroid
//! ultrasound frames, with a labeled test pool, about 15 % of the training
//! images labeled and the rest unlabeled. Deterministic in the seed. The
//! generator's ground truth for every image is written apart, to
//! `ground_truth.csv`, for benchmarks — never as labels.

use std::path::{Path, PathBuf};

use crate::rng::Rng;
use crate::store::{Pool, Project, Schema, StoreError, csv};
use crate::synth::{fundus, ultrasound};

pub mod rop_exams;

/// Which demo to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoTask {
    Rop,
    Thyroid,
    /// The MNI brain with a synthetic lesion label map, and a CT phantom.
    Volumes,
    /// Lung-cancer screening cases: a chest CT (role `ct`) and a
    /// questionnaire each (METHODS.md §3); about 10 % without CT.
    Lung,
    /// Osteoporosis screening cases: an abdominal CT series (role `ct`),
    /// demographics and labs (METHODS.md §4); about 25 % without CT and
    /// 15 % without labs.
    Bone,
    /// Brain-tumour cases on the MNI brain: four MRI sequences (roles `t1`,
    /// `t1ce`, `t2`, `flair`) and BraTS label maps (METHODS.md §5).
    BrainTumour,
    /// ROP screening: infants, exams, two eyes, 3–5 retinal fields each,
    /// truth per eye and two graders ([`rop_exams`]).
    RopExams,
}

impl DemoTask {
    pub fn name(self) -> &'static str {
        match self {
            DemoTask::Rop => "rop",
            DemoTask::Thyroid => "thyroid",
            DemoTask::Volumes => "volumes",
            DemoTask::Lung => "lung",
            DemoTask::Bone => "bone",
            DemoTask::BrainTumour => "brain-tumour",
            DemoTask::RopExams => "rop-exams",
        }
    }

    /// The default `size`: the image edge in pixels, or the CT's edge in voxels.
    pub fn default_size(self) -> usize {
        match self {
            DemoTask::Lung => 40,
            DemoTask::Bone | DemoTask::BrainTumour => 64,
            _ => 256,
        }
    }

    /// The default number of cases or images: a brain-tumour demo of 40
    /// cases at 64³ trains on two cores in minutes.
    pub fn default_count(self) -> usize {
        match self {
            DemoTask::BrainTumour => 40,
            // Infants: about 22 photographs each; 60 give the test pool
            // (18 infants) about 80 eyes, 15 of them referral-warranted.
            DemoTask::RopExams => 60,
            _ => 300,
        }
    }

    /// The default test pool: a fifth of the items; three tenths of the
    /// screening demo's infants (an eye-level AUC needs its referrals).
    pub fn default_test_fraction(self) -> f64 {
        match self {
            DemoTask::RopExams => 0.3,
            _ => 0.2,
        }
    }

    /// The default fraction of training cases that start labeled: half of
    /// a brain-tumour demo's (a painted map is an hour's work per case, and
    /// segmentation learns from every voxel of one), 15 % elsewhere.
    pub fn default_labeled_fraction(self) -> f64 {
        match self {
            DemoTask::BrainTumour => 0.5,
            // Of the screening demo's eyes outside the test pool: graded.
            DemoTask::RopExams => 0.75,
            _ => 0.15,
        }
    }
}

/// Demo settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub task: DemoTask,
    pub seed: u64,
    pub count: usize,
    /// Edge of the square images in pixels.
    pub size: usize,
    pub test_fraction: f64,
    /// Fraction of the training images that start labeled.
    pub labeled_fraction: f64,
    /// Write into a folder that already holds other files (only the demo's
    /// own files are written; nothing else there is touched).
    pub force: bool,
    /// The volumes demo writes its CT phantom as a DICOM series (imported
    /// as one item), not as NIfTI.
    pub dicom: bool,
    /// The bone demo: SD in HU of a vertebra's trabecular bone about what
    /// its density says (0: the CT decides the label).
    pub bone_ct_hu_spread: f64,
}

/// What a demo may ask for: enough images for every class, no more than a
/// clinic's year, and image sizes a screen and training can hold.
pub mod limits {
    use std::ops::RangeInclusive;

    pub const COUNT: RangeInclusive<usize> = 4..=100_000;
    pub const SIZE: RangeInclusive<usize> = 32..=2048;
    /// The lung demo's CT edge in voxels: a CPU run stays within minutes.
    pub const CT_EDGE: RangeInclusive<usize> = 16..=96;
    /// Infants of the screening demo (each about 20 photographs).
    pub const INFANTS: RangeInclusive<usize> = 1..=1000;
    /// The bone demo's per-case HU spread of trabecular bone (beyond a
    /// few hundred HU a vertebra is no longer bone).
    pub const CT_HU_SPREAD: RangeInclusive<f64> = 0.0..=300.0;
}

impl DemoOptions {
    /// Refuses counts and sizes outside [`limits`], naming the option.
    pub fn validate(&self) -> Result<(), StoreError> {
        let check = |name: &str, value: usize, range: std::ops::RangeInclusive<usize>| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(StoreError::Invalid(format!(
                    "{name} {value} must be between {} and {}",
                    range.start(),
                    range.end()
                )))
            }
        };
        match self.task {
            DemoTask::RopExams => check("--infants", self.count, limits::INFANTS)?,
            _ => check("--count", self.count, limits::COUNT)?,
        }
        match self.task {
            DemoTask::Lung | DemoTask::Bone | DemoTask::BrainTumour => check(
                "--size (the CT's edge in voxels)",
                self.size,
                limits::CT_EDGE,
            )?,
            _ => check("--size", self.size, limits::SIZE)?,
        }
        crate::store::split::check_test_fraction("test fraction", self.test_fraction)
            .map_err(StoreError::Invalid)?;
        if !(0.0..=1.0).contains(&self.labeled_fraction) {
            return Err(StoreError::Invalid(format!(
                "--labeled-fraction {} must be between 0 and 1",
                self.labeled_fraction
            )));
        }
        if !limits::CT_HU_SPREAD.contains(&self.bone_ct_hu_spread) {
            return Err(StoreError::Invalid(format!(
                "--ct-hu-spread {} must be between 0 and {} HU",
                self.bone_ct_hu_spread,
                limits::CT_HU_SPREAD.end()
            )));
        }
        Ok(())
    }

    pub fn new(task: DemoTask) -> Self {
        Self {
            task,
            seed: 1,
            count: task.default_count(),
            size: task.default_size(),
            test_fraction: task.default_test_fraction(),
            labeled_fraction: task.default_labeled_fraction(),
            force: false,
            dicom: false,
            bone_ct_hu_spread: 0.0,
        }
    }
}

/// Who the demo's labels are recorded for.
pub const DEMO_ANNOTATOR: &str = "reference";

/// The real CC0 fundus photograph shipped in `assets/`, added to the ROP demo unlabeled.
const RETINA_JPG: &[u8] = include_bytes!("../assets/retina.jpg");

/// The MNI152 T1 template shipped in `assets/` (licence notice there).
const MNI152_T1: &[u8] = include_bytes!("../assets/mni152_t1.nii.gz");

/// Draws one synthetic image of a class: pixels and their colour type.
type ImageGenerator = fn(usize, usize, u64) -> (Vec<u8>, image::ExtendedColorType);

fn fundus_image(class: usize, size: usize, seed: u64) -> (Vec<u8>, image::ExtendedColorType) {
    (
        fundus::generate(class, size, seed).rgb,
        image::ExtendedColorType::Rgb8,
    )
}

fn ultrasound_image(class: usize, size: usize, seed: u64) -> (Vec<u8>, image::ExtendedColorType) {
    (
        ultrasound::export_frame(class, size, seed).0,
        image::ExtendedColorType::L8,
    )
}

/// What a demo holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoSummary {
    pub root: PathBuf,
    pub items: usize,
    pub labeled: usize,
    pub unlabeled: usize,
    pub test: usize,
}

impl DemoSummary {
    /// What the project written in `root` holds, by pool.
    fn of(root: &Path, project: &Project) -> Result<Self, StoreError> {
        let items = project.items()?;
        let count = |pool| items.iter().filter(|i| i.pool == pool).count();
        Ok(DemoSummary {
            root: root.to_path_buf(),
            items: items.len(),
            labeled: count(Pool::Labeled),
            unlabeled: count(Pool::Unlabeled),
            test: count(Pool::Test),
        })
    }
}

/// Writes a demo project into `root` (which must not hold a project yet);
/// `progress(done, total)` after each image.
pub fn write_demo(
    root: &Path,
    options: &DemoOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    options.validate()?;
    check_demo_folder(root, options.force)?;
    let (schema, classes, generate): (Schema, &[&str], ImageGenerator) = match options.task {
        DemoTask::Rop => (Schema::rop(), &fundus::STAGES, fundus_image),
        DemoTask::Thyroid => (Schema::thyroid(), &ultrasound::CLASSES, ultrasound_image),
        DemoTask::Volumes => {
            return write_volumes_demo(root, options.seed, options.dicom, progress);
        }
        DemoTask::Lung => return write_lung_demo(root, options, progress),
        DemoTask::Bone => return write_bone_demo(root, options, progress),
        DemoTask::BrainTumour => return write_brain_tumour_demo(root, options, progress),
        DemoTask::RopExams => return rop_exams::write_rop_exams_demo(root, options, progress),
    };
    let mut project = Project::create(root, &schema)?;
    let images = root.join("images");
    std::fs::create_dir_all(&images).map_err(|source| StoreError::Io {
        path: images.clone(),
        source,
    })?;

    // Classes in turn, so every class is equally common; pools drawn per class.
    let mut rng = Rng::new(options.seed);
    let per_class = options.count.div_ceil(classes.len());
    let mut plan: Vec<(usize, Pool, bool)> = Vec::new(); // (class, pool, labeled)
    for class in 0..classes.len() {
        let n = per_class.min(options.count.saturating_sub(class * per_class));
        let test = crate::store::split::share(options.test_fraction, n);
        let labeled = crate::store::split::share(options.labeled_fraction, n - test)
            .max(1)
            .min(n - test);
        for k in 0..n {
            let pool = if k < test {
                Pool::Test
            } else {
                Pool::Unlabeled
            };
            plan.push((class, pool, k < test + labeled));
        }
    }
    // Shuffle so file order says nothing about class or pool.
    rng.shuffle(&mut plan);

    let mut truth = csv::line(&["path", schema.target.as_str()]);
    let total = plan.len();
    for (index, &(class, pool, labeled)) in plan.iter().enumerate() {
        let name = format!("{}_{index:04}.png", options.task.name());
        let path = images.join(&name);
        let image_seed = options
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(index as u64);
        let (pixels, colour) = generate(class, options.size, image_seed);
        let written = image::save_buffer(
            &path,
            &pixels,
            options.size as u32,
            options.size as u32,
            colour,
        );
        written.map_err(|e| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        truth.push_str(&csv::line(&[
            format!("images/{name}"),
            classes[class].to_string(),
        ]));
        if let crate::store::AddOutcome::Added(id) = project.add_item(&path, pool)?
            && labeled
        {
            project.set_label(id, DEMO_ANNOTATOR, &schema.target, Some(classes[class]))?;
        }
        progress(index + 1, total);
    }
    if options.task == DemoTask::Rop {
        let retina = images.join("retina_real_cc0.jpg");
        std::fs::write(&retina, RETINA_JPG).map_err(|source| StoreError::Io {
            path: retina.clone(),
            source,
        })?;
        project.add_item(&retina, Pool::Unlabeled)?;
    }
    let truth_path = root.join("ground_truth.csv");
    std::fs::write(&truth_path, truth).map_err(|source| StoreError::Io {
        path: truth_path,
        source,
    })?;

    DemoSummary::of(root, &project)
}

/// A review schema for the volumes demo.
fn review_schema() -> Schema {
    Schema {
        name: "volume review".into(),
        fields: vec![crate::store::Field {
            name: "finding".into(),
            values: vec!["normal".into(), "lesion".into(), "artefact".into()],
            ordinal: false,
            hotkeys: Vec::new(),
        }],
        target: "finding".into(),
        paint_labels: Vec::new(),
        crop: None,
        modalities: Vec::new(),
        target_is_label_map: false,
        tabular: Vec::new(),
    }
}

/// The MNI brain with `mni152_t1_labels.nii.gz` (spherical synthetic
/// lesions, labels 1 and 2, inside the brain) and a 128³ CT phantom.
/// A demo goes into a new or empty folder: writing `images/*.png` and
/// `ground_truth.csv` into a folder of the user's would overwrite their
/// files. `force` allows a folder with other files (not a project).
fn check_demo_folder(root: &Path, force: bool) -> Result<(), StoreError> {
    if crate::store::is_project(root) {
        return Err(StoreError::AlreadyExists(root.to_path_buf()));
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(()); // missing: created by Project::create
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() || force {
        return Ok(());
    }
    Err(StoreError::Invalid(format!(
        "{} is not empty (it holds {}{}): choose a new or empty folder, or pass --force to write the demo's files beside them",
        root.display(),
        names
            .iter()
            .take(3)
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        if names.len() > 3 { ", …" } else { "" }
    )))
}

fn write_volumes_demo(
    root: &Path,
    seed: u64,
    dicom: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    let mut project = Project::create(root, &review_schema())?;
    let images = root.join("images");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(&images).map_err(io(&images))?;
    let brain_path = images.join("mni152_t1.nii.gz");
    std::fs::write(&brain_path, MNI152_T1).map_err(io(&brain_path))?;
    let brain = crate::volume::load(&brain_path).map_err(|e| StoreError::Invalid(e.to_string()))?;
    progress(1, 3);

    let [nx, ny, nz] = brain.spatial_shape();
    let mut rng = Rng::new(seed);
    let mut lesions = Vec::new();
    while lesions.len() < 5 {
        let centre = [nx, ny, nz].map(|n| (n as f64 * (0.25 + 0.5 * rng.unit())) as usize);
        if brain.value(&centre).is_some_and(|v| v > 90.0) {
            let radius = 4.0 + 6.0 * rng.unit();
            let label = 1 + (lesions.len() % 2) as u8;
            lesions.push((centre, radius, label));
        }
    }
    let mut labels = vec![0u8; nx * ny * nz];
    for (centre, radius, label) in &lesions {
        let r = radius.ceil() as isize;
        for dk in -r..=r {
            for dj in -r..=r {
                for di in -r..=r {
                    let p = [
                        centre[0] as isize + di,
                        centre[1] as isize + dj,
                        centre[2] as isize + dk,
                    ];
                    let outside = (0..3).any(|a| p[a] < 0 || p[a] >= [nx, ny, nz][a] as isize);
                    if outside || (di * di + dj * dj + dk * dk) as f64 > radius * radius {
                        continue;
                    }
                    labels[p[0] as usize + nx * (p[1] as usize + ny * p[2] as usize)] = *label;
                }
            }
        }
    }
    let label_volume = crate::volume::Volume {
        data: crate::volume::VoxelData::U8(labels),
        scaling: None,
        datatype: Some(2),
        description: "Loupe synthetic lesions".into(),
        ..brain.clone()
    };
    let labels_path = images.join("mni152_t1_labels.nii.gz");
    crate::volume::nifti::write_nifti1(&label_volume, &labels_path).map_err(io(&labels_path))?;
    progress(2, 3);

    let phantom = crate::synth::phantom::ct_phantom(128, seed);
    project.add_item(&brain_path, Pool::Unlabeled)?;
    if dicom {
        // A series folder imported as a clinic's archive would be: found by
        // content, one item for its 128 slice files.
        let folder = images.join("ct_phantom_dicom");
        crate::volume::dicom::write::write_ct_series(
            &phantom,
            &folder,
            seed,
            crate::volume::dicom::write::Encoding::ExplicitLittle,
        )
        .map_err(StoreError::Invalid)?;
        let report = crate::store::import::import(
            &mut project,
            &[folder],
            None,
            &crate::store::import::ImportOptions::default(),
            |_, _| {},
        )?;
        if report.added != 1 {
            return Err(StoreError::Invalid(format!(
                "the demo's DICOM series became {} items",
                report.added
            )));
        }
    } else {
        let phantom_path = images.join("ct_phantom_128.nii.gz");
        crate::volume::nifti::write_nifti1(&phantom, &phantom_path).map_err(io(&phantom_path))?;
        project.add_item(&phantom_path, Pool::Unlabeled)?;
    }
    progress(3, 3);
    Ok(DemoSummary {
        root: root.to_path_buf(),
        items: 2,
        labeled: 0,
        unlabeled: 2,
        test: 0,
    })
}

/// The lung demo's schema: the label `cancer`, the modality `ct` and the
/// questionnaire's columns.
pub fn lung_schema() -> Schema {
    use crate::store::schema::TabularColumn;
    let mut quit = TabularColumn::number("years_since_quitting", "years", 0.0, 70.0);
    quit.missing_allowed = true; // asked of former smokers only
    Schema {
        name: "lung".into(),
        fields: vec![crate::store::Field {
            name: "cancer".into(),
            values: vec!["no".into(), "yes".into()],
            ordinal: false,
            hotkeys: Vec::new(),
        }],
        target: "cancer".into(),
        paint_labels: vec![crate::store::schema::PaintLabel::new(1, "nodule")],
        crop: None,
        modalities: vec!["ct".into()],
        target_is_label_map: false,
        tabular: vec![
            TabularColumn::number("age", "years", 18.0, 110.0),
            TabularColumn::category("sex", &["female", "male"]),
            TabularColumn::number("pack_years", "pack-years", 0.0, 300.0),
            TabularColumn::category("smoking", &["never", "former", "current"]),
            quit,
            TabularColumn::yes_no("family_history"),
            TabularColumn::yes_no("copd"),
            TabularColumn::yes_no("cough"),
            TabularColumn::yes_no("weight_loss"),
            TabularColumn::yes_no("occupational_exposure"),
        ],
    }
}

/// One case of a cases demo, ready to write.
struct DemoCase {
    name: String,
    /// The CT as int16 HU, its shape `[x, y, z]` and voxel size in mm.
    ct: Option<(Vec<i16>, [usize; 3], [f64; 3])>,
    /// The record's cells, in the schema's tabular order.
    cells: Vec<String>,
    /// The target's value.
    label: String,
    /// The case's ground-truth row after its name and label.
    truth: Vec<String>,
}

/// The lung demo: `cases/<case>_ct.nii.gz` (int16 HU, 1 mm voxels),
/// `cases.csv` (what `loupe import --cases` reads, and how the demo is
/// imported), `ground_truth.csv` (label, hidden risk, largest nodule,
/// generator settings). Pools as in the other demos, stratified by label.
fn write_lung_demo(
    root: &Path,
    options: &DemoOptions,
    progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    use crate::synth::lung::{LungOptions, cohort};
    let lung = LungOptions {
        seed: options.seed,
        edge: options.size,
        ..LungOptions::default()
    };
    let edge = lung.edge.max(8);
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let cases = cohort(options.count, &lung)
        .into_iter()
        .enumerate()
        .map(|(index, case)| {
            let q = &case.questionnaire;
            DemoCase {
                name: format!("lung_{index:04}"),
                cells: vec![
                    format!("{:.0}", q.age_years),
                    if q.male { "male" } else { "female" }.into(),
                    format!("{:.1}", q.pack_years),
                    q.smoking.name().into(),
                    match q.smoking {
                        crate::synth::lung::Smoking::Former => {
                            format!("{:.1}", q.years_since_quitting)
                        }
                        _ => String::new(),
                    },
                    yes_no(q.family_history),
                    yes_no(q.copd),
                    yes_no(q.cough),
                    yes_no(q.weight_loss),
                    yes_no(q.occupational_exposure),
                ],
                label: yes_no(case.cancer),
                truth: vec![
                    format!("{:.4}", case.risk),
                    format!("{:.2}", case.nodule_diameter_mm),
                    yes_no(case.ct.is_some()),
                    options.seed.to_string(),
                    edge.to_string(),
                    lung.missing_ct.to_string(),
                ],
                ct: case.ct.map(|v| (v, [edge; 3], [1.0; 3])),
            }
        })
        .collect();
    write_cases_demo(
        root,
        options,
        &lung_schema(),
        0x4c55_4e47, // "LUNG"
        &[
            "risk",
            "nodule_diameter_mm",
            "has_ct",
            "seed",
            "edge_voxels",
            "missing_ct",
        ],
        cases,
        progress,
    )
}

/// The bone demo's schema: the label `osteoporosis`, the modality `ct` and
/// twelve record columns — six demographics (always there) and six routine
/// labs (missing together when a case has no labs).
pub fn bone_schema() -> Schema {
    use crate::store::schema::TabularColumn;
    let lab = |name: &str, unit: &str, min: f64, max: f64| {
        let mut column = TabularColumn::number(name, unit, min, max);
        column.missing_allowed = true;
        column
    };
    Schema {
        name: "bone".into(),
        fields: vec![crate::store::Field {
            name: "osteoporosis".into(),
            values: vec!["no".into(), "yes".into()],
            ordinal: false,
            hotkeys: Vec::new(),
        }],
        target: "osteoporosis".into(),
        paint_labels: Vec::new(),
        crop: None,
        modalities: vec!["ct".into()],
        target_is_label_map: false,
        tabular: vec![
            TabularColumn::number("age", "years", 18.0, 110.0),
            TabularColumn::category("sex", &["female", "male"]),
            TabularColumn::number("bmi", "kg/m²", 10.0, 60.0),
            TabularColumn::yes_no("menopause"),
            TabularColumn::yes_no("smoking"),
            TabularColumn::yes_no("steroid_use"),
            lab("calcium", "mg/dL", 5.0, 15.0),
            lab("phosphate", "mg/dL", 1.0, 10.0),
            lab("alkaline_phosphatase", "U/L", 10.0, 500.0),
            lab("vitamin_d", "ng/mL", 1.0, 150.0),
            lab("creatinine", "mg/dL", 0.2, 10.0),
            lab("urine_calcium", "mg/24 h", 10.0, 800.0),
        ],
    }
}

/// The bone demo (METHODS.md §4): `cases/<case>_ct.nii.gz` (axial series,
/// int16 HU), `cases.csv`, `ground_truth.csv` (label, hidden T-score,
/// which modalities the case has, the slices that cross a vertebral body).
fn write_bone_demo(
    root: &Path,
    options: &DemoOptions,
    progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    use crate::synth::bone::{BoneOptions, cohort};
    let bone = BoneOptions {
        seed: options.seed,
        edge: options.size,
        ct_hu_spread: options.bone_ct_hu_spread,
        ..BoneOptions::default()
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let shape = [bone.edge, bone.edge, bone.slices];
    // A 64-pixel slice covers a 384 mm field of view; 5 mm slices.
    let spacing_mm = [384.0 / bone.edge as f64, 384.0 / bone.edge as f64, 5.0];
    let cases = cohort(options.count, &bone)
        .into_iter()
        .enumerate()
        .map(|(index, case)| {
            let d = &case.demographics;
            let mut cells = vec![
                format!("{:.0}", d.age_years),
                if d.female { "female" } else { "male" }.into(),
                format!("{:.1}", d.bmi),
                yes_no(d.menopause),
                yes_no(d.smoking),
                yes_no(d.steroid_use),
            ];
            match &case.labs {
                Some(l) => cells.extend([
                    format!("{:.1}", l.calcium_mg_dl),
                    format!("{:.1}", l.phosphate_mg_dl),
                    format!("{:.0}", l.alkaline_phosphatase_u_l),
                    format!("{:.1}", l.vitamin_d_ng_ml),
                    format!("{:.2}", l.creatinine_mg_dl),
                    format!("{:.0}", l.urine_calcium_mg_day),
                ]),
                None => cells.extend(std::iter::repeat_n(String::new(), 6)),
            }
            DemoCase {
                name: format!("bone_{index:04}"),
                cells,
                label: yes_no(case.osteoporosis),
                truth: vec![
                    format!("{:.4}", case.t_score),
                    yes_no(case.ct.is_some()),
                    yes_no(case.labs.is_some()),
                    case.vertebra_slices
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                    options.seed.to_string(),
                ],
                ct: case.ct.map(|v| (v, shape, spacing_mm)),
            }
        })
        .collect();
    write_cases_demo(
        root,
        options,
        &bone_schema(),
        0x424f_4e45, // "BONE"
        &["t_score", "has_ct", "has_labs", "vertebra_slices", "seed"],
        cases,
        progress,
    )
}

/// Writes a cases demo: each case's CT to `cases/<case>_ct.nii.gz`,
/// `cases.csv` (what `loupe import --cases` reads; the demo is imported
/// through it, the way a user's cases come in) and `ground_truth.csv`
/// (`case`, the target, then `truth_header`). Pools as in the other
/// demos, stratified by label, drawn from the seed salted by `pool_salt`.
fn write_cases_demo(
    root: &Path,
    options: &DemoOptions,
    schema: &Schema,
    pool_salt: u64,
    truth_header: &[&str],
    cases: Vec<DemoCase>,
    mut progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    use crate::volume::{Affine, Endianness, FileFormat, Volume, VoxelData};
    let mut project = Project::create(root, schema)?;
    let folder = root.join("cases");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(&folder).map_err(io(&folder))?;

    // Pools per class, as the other demos draw them.
    let mut rng = Rng::new(options.seed ^ pool_salt);
    let mut pool_of = vec![(Pool::Unlabeled, false); cases.len()];
    let target = schema.target_field();
    for class in &target.values {
        let mut members: Vec<usize> = (0..cases.len())
            .filter(|&i| &cases[i].label == class)
            .collect();
        rng.shuffle(&mut members);
        let test = crate::store::split::share(options.test_fraction, members.len());
        let labeled = crate::store::split::share(options.labeled_fraction, members.len() - test)
            .max(1)
            .min(members.len() - test);
        for (k, &i) in members.iter().enumerate() {
            pool_of[i] = if k < test {
                (Pool::Test, true)
            } else {
                (Pool::Unlabeled, k < test + labeled)
            };
        }
    }

    let mut header = vec!["case".to_string(), "ct".to_string()];
    header.extend(schema.tabular.iter().map(|c| c.name.clone()));
    header.extend([schema.target.clone(), "pool".to_string()]);
    let mut table = csv::line(&header);
    let mut truth_columns = vec!["case", schema.target.as_str()];
    truth_columns.extend_from_slice(truth_header);
    let mut truth = csv::line(&truth_columns);
    let total = cases.len();
    for (index, case) in cases.into_iter().enumerate() {
        let ct_cell = match case.ct {
            Some((voxels, shape, spacing_mm)) => {
                let file = format!("{}_ct.nii.gz", case.name);
                let volume = Volume {
                    path: PathBuf::from(&file),
                    format: FileFormat::Nifti1,
                    shape: shape.to_vec(),
                    channels: 1,
                    datatype: Some(4),
                    endianness: Endianness::Little,
                    world_from_voxel: Affine::centred(&shape, spacing_mm),
                    pixdim: [spacing_mm[0], spacing_mm[1], spacing_mm[2], 1.0],
                    scaling: None,
                    xyzt_units: 2, // millimetres
                    description: format!("Loupe synthetic CT, seed {}", options.seed),
                    data: VoxelData::I16(voxels),
                    dicom: None,
                };
                let path = folder.join(&file);
                crate::volume::nifti::write_nifti1(&volume, &path).map_err(io(&path))?;
                format!("cases/{file}")
            }
            None => String::new(),
        };
        let (pool, labeled) = pool_of[index];
        let mut row = vec![case.name.clone(), ct_cell];
        row.extend(case.cells);
        row.push(if labeled {
            case.label.clone()
        } else {
            String::new()
        });
        row.push(if pool == Pool::Test {
            "test".into()
        } else {
            String::new()
        });
        table.push_str(&csv::line(&row));
        let mut truth_row = vec![case.name, case.label];
        truth_row.extend(case.truth);
        truth.push_str(&csv::line(&truth_row));
        progress(index + 1, total);
    }
    let table_path = root.join("cases.csv");
    std::fs::write(&table_path, table).map_err(io(&table_path))?;
    let truth_path = root.join("ground_truth.csv");
    std::fs::write(&truth_path, truth).map_err(io(&truth_path))?;
    // The demo comes in the way a user's cases do.
    let rows = crate::store::cases::read_cases(&table_path, &project)?;
    let import_options = crate::store::import::ImportOptions {
        annotator: DEMO_ANNOTATOR.into(),
        ..Default::default()
    };
    crate::store::cases::import_cases(&mut project, &rows, &import_options, |_, _| {})?;
    DemoSummary::of(root, &project)
}

/// The brain-tumour demo's schema: the four MRI sequences as modality roles,
/// BraTS's label list for painting, and a `review` field (whether a case's
/// map was accepted) as the target every schema needs; segmentation runs
/// learn from the label maps, not from it.
pub fn brain_tumour_schema() -> Schema {
    Schema {
        name: "brain-tumour".into(),
        fields: vec![crate::store::Field {
            name: "review".into(),
            values: vec!["accepted".into(), "needs correction".into()],
            ordinal: false,
            hotkeys: Vec::new(),
        }],
        target: "review".into(),
        paint_labels: crate::store::schema::brats_paint_labels(),
        crop: None,
        modalities: crate::synth::brain_tumour::ROLES
            .iter()
            .map(|r| r.to_string())
            .collect(),
        target_is_label_map: true,
        tabular: Vec::new(),
    }
}

/// Where the brain-tumour demo writes each case's generated truth.
pub const GROUND_TRUTH_FOLDER: &str = "ground_truth";

/// The brain-tumour demo (METHODS.md §5): per case `cases/<case>_<role>.nii.gz`
/// for T1, T1ce, T2 and FLAIR (int16, ×1000, one grid), imported through
/// `cases.csv`; the labeled and test pools' cases get their truth as the
/// reference annotator's label map, every case's truth is also written to
/// `ground_truth/<case>_labels.nii.gz`.
fn write_brain_tumour_demo(
    root: &Path,
    options: &DemoOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    use crate::synth::brain_tumour::{ROLES, case, resample_brain};
    use crate::volume::{Affine, Endianness, FileFormat, Volume, VoxelData};
    let schema = brain_tumour_schema();
    let mut project = Project::create(root, &schema)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let folder = root.join("cases");
    let truth_folder = root.join(GROUND_TRUTH_FOLDER);
    for f in [&folder, &truth_folder] {
        std::fs::create_dir_all(f).map_err(io(f))?;
    }
    // The template is read through the same NIfTI reader as any file.
    let template_path = folder.join(".mni152_t1.nii.gz");
    std::fs::write(&template_path, MNI152_T1).map_err(io(&template_path))?;
    let template = crate::volume::load(&template_path);
    let _ = std::fs::remove_file(&template_path);
    let template = template.map_err(|e| StoreError::Invalid(e.to_string()))?;
    let template_shape = template.spatial_shape();
    let values: Vec<f32> = (0..template.voxel_count())
        .map(|v| template.value_at(v).unwrap_or(0.0) as f32)
        .collect();
    let edge = options.size;
    let brain = resample_brain(&values, template_shape, edge);
    let shape = [edge; 3];
    // The template's 1 mm field of view over `edge` voxels per axis.
    let spacing_mm = template_shape.map(|n| n as f64 / edge as f64);
    let volume = |data: VoxelData, datatype: i16, file: &str, description: &str| Volume {
        path: PathBuf::from(file),
        format: FileFormat::Nifti1,
        shape: shape.to_vec(),
        channels: 1,
        datatype: Some(datatype),
        endianness: Endianness::Little,
        world_from_voxel: Affine::centred(&shape, spacing_mm),
        pixdim: [spacing_mm[0], spacing_mm[1], spacing_mm[2], 1.0],
        scaling: None,
        xyzt_units: 2, // millimetres
        description: description.into(),
        data,
        dicom: None,
    };

    // Pools: a test fraction, then a labeled fraction of the rest.
    let count = options.count;
    let mut order: Vec<usize> = (0..count).collect();
    Rng::new(options.seed ^ 0x4252_4149_4e00).shuffle(&mut order); // "BRAIN"
    let test = crate::store::split::share(options.test_fraction, count);
    let labeled = crate::store::split::share(options.labeled_fraction, count - test)
        .max(1)
        .min(count - test);
    let mut pool_of = vec![(Pool::Unlabeled, false); count];
    for (k, &i) in order.iter().enumerate() {
        pool_of[i] = if k < test {
            (Pool::Test, true)
        } else {
            (Pool::Unlabeled, k < test + labeled)
        };
    }

    let mut header = vec!["case".to_string()];
    header.extend(ROLES.iter().map(|r| r.to_string()));
    header.extend([schema.target.clone(), "pool".to_string()]);
    let mut table = csv::line(&header);
    let mut truths = Vec::with_capacity(count);
    let mut rng = Rng::new(options.seed);
    for (index, &(pool, _)) in pool_of.iter().enumerate() {
        let name = format!("bt_{:04}", index + 1);
        let generated = case(&brain, edge, &mut rng);
        let mut row = vec![name.clone()];
        for (role, sequence) in ROLES.iter().zip(&generated.sequences) {
            let file = format!("{name}_{role}.nii.gz");
            let data: Vec<i16> = sequence
                .iter()
                .map(|&v| (v * 1000.0).round().clamp(0.0, i16::MAX as f32) as i16)
                .collect();
            let description = format!("Loupe synthetic {role}, seed {}", options.seed);
            let path = folder.join(&file);
            crate::volume::nifti::write_nifti1(
                &volume(VoxelData::I16(data), 4, &file, &description),
                &path,
            )
            .map_err(io(&path))?;
            row.push(format!("cases/{file}"));
        }
        let truth_path = truth_folder.join(format!(
            "{name}{}.nii.gz",
            crate::store::label_maps::LABELS_SUFFIX
        ));
        let truth = volume(
            VoxelData::U8(generated.labels.clone()),
            2,
            "",
            "Loupe synthetic tumour labels",
        );
        crate::volume::nifti::write_nifti1(&truth, &truth_path).map_err(io(&truth_path))?;
        row.push(String::new());
        row.push(if pool == Pool::Test {
            "test".into()
        } else {
            String::new()
        });
        table.push_str(&csv::line(&row));
        truths.push((name, generated.labels));
        progress(index + 1, count);
    }
    let table_path = root.join("cases.csv");
    std::fs::write(&table_path, table).map_err(io(&table_path))?;
    let rows = crate::store::cases::read_cases(&table_path, &project)?;
    let import_options = crate::store::import::ImportOptions {
        annotator: DEMO_ANNOTATOR.into(),
        ..Default::default()
    };
    crate::store::cases::import_cases(&mut project, &rows, &import_options, |_, _| {})?;
    // The labeled and test cases' truth, as the reference annotator's maps.
    let ids: std::collections::BTreeMap<String, i64> = project
        .case_names()?
        .into_iter()
        .map(|(id, name)| (name, id))
        .collect();
    for (index, (name, labels)) in truths.into_iter().enumerate() {
        if !pool_of[index].1 {
            continue;
        }
        let Some(&id) = ids.get(&name) else { continue };
        let item = project.item(id)?;
        let grid = crate::volume::load(&project.resolve(&item))
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        project.save_label_map(id, DEMO_ANNOTATOR, &grid, &labels)?;
    }
    DemoSummary::of(root, &project)
}
