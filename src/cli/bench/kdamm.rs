//! `loupe bench kdamm`: METHODS.md §4 measured on the bone demo. For every
//! seed, one bone demo of that seed (its cases partly labeled), and in
//! order:
//!
//! 1. image classifiers on the k middle slices and on k random slices;
//!    the tabular teacher on the record;
//! 2. the slice policy, rewarded by the middle-slice classifier's
//!    confidence (measured: the random-slice classifier, whose k channels
//!    come from a different height in every case, stays near chance, so
//!    its confidence rewards nothing);
//! 3. the image classifier on the policy's slices (KDAMM's image teacher)
//!    and the multimodal baseline on the complete cases and on every
//!    labeled case (a missing modality zero-filled and flagged);
//! 4. KDAMM with both teachers, without the unlabeled cases, and with one
//!    teacher per case (image where a CT exists, tabular otherwise).
//!
//! Mean ± sd over seeds of test accuracy and AUC, every row on the same
//! cases twice: on every test case (a model that cannot read a case — an
//! image model where the CT is missing — answers with its labeled pool's
//! class frequencies, as a screening programme without the image would)
//! and on the test cases with a CT (where every model reads the case).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use super::common::{eval_items_json, in_parallel, train_json, within};
use super::findings::{Findings, Metric, Pairing};
use super::report::Output;
use crate::demo::{DemoOptions, DemoTask, write_demo};
use crate::train::config::{SliceConfig, TABULAR_MODALITY, TrainConfig};
use crate::train::models::ModelKind;

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arm {
    Tabular,
    ImageMiddle,
    ImageRandom,
    /// The middle-slice classifier reading the policy's picks (the policy run's own score).
    Policy,
    ImagePolicy,
    Multimodal,
    /// The fusion model with CE on every labeled case (a missing modality
    /// zero-filled and flagged): the baseline that sees every label KDAMM sees.
    MultimodalAllLabeled,
    Kdamm,
    /// KDAMM with its KL terms on the labeled cases only.
    KdammLabeledOnly,
    /// KDAMM with one teacher per case (image where a CT exists).
    KdammTeacherSwitch,
}

impl Arm {
    pub const ALL: [Arm; 10] = [
        Arm::Tabular,
        Arm::ImageMiddle,
        Arm::ImageRandom,
        Arm::Policy,
        Arm::ImagePolicy,
        Arm::Multimodal,
        Arm::MultimodalAllLabeled,
        Arm::Kdamm,
        Arm::KdammLabeledOnly,
        Arm::KdammTeacherSwitch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Arm::Tabular => "tabular teacher (record)",
            Arm::ImageMiddle => "image, middle slices",
            Arm::ImageRandom => "image, random slices",
            Arm::Policy => "middle-slice classifier on policy slices",
            Arm::ImagePolicy => "image teacher, policy slices",
            Arm::Multimodal => "multimodal, complete cases only",
            Arm::MultimodalAllLabeled => "multimodal, every labeled case",
            Arm::Kdamm => "KDAMM, all cases",
            Arm::KdammLabeledOnly => "KDAMM without the unlabeled cases",
            Arm::KdammTeacherSwitch => "KDAMM, one teacher per case",
        }
    }

    /// Whether it reads the CT alone (so cannot answer for a case without one).
    fn image_only(self) -> bool {
        matches!(
            self,
            Arm::ImageMiddle | Arm::ImageRandom | Arm::Policy | Arm::ImagePolicy
        )
    }
}

pub struct KdammSettings {
    pub seeds: Vec<u64>,
    pub count: usize,
    /// A slice's edge in pixels.
    pub edge: usize,
    pub labeled_fraction: f64,
    /// The demo's per-case HU spread of trabecular bone.
    pub ct_hu_spread: f64,
    pub image: TrainConfig,
    pub tabular: TrainConfig,
    pub policy: TrainConfig,
    pub fusion: TrainConfig,
    pub jobs: usize,
    pub dir: PathBuf,
}

/// Image classifiers: ResNet-18-style width 8 on k = 3 slices at 64 px,
/// classes weighed, 40 epochs, all labeled in each batch.
pub fn image_config() -> TrainConfig {
    TrainConfig {
        method: crate::train::methods::supervised::METHOD,
        modalities: vec!["ct".into()],
        model: ModelKind::Resnet18,
        slices: Some(SliceConfig::default()),
        input_size: 64,
        width: 8,
        dropout: 0.2,
        epochs: 40,
        learning_rate: 2e-3,
        batch_size: 16,
        labeled_per_batch: 16,
        loss: crate::train::losses::ClassificationLoss {
            class_weights: true,
            ..Default::default()
        },
        ..TrainConfig::small_on_cpu()
    }
}

/// The tabular teacher: the MLP, 40 epochs.
pub fn tabular_config() -> TrainConfig {
    TrainConfig {
        modalities: vec![TABULAR_MODALITY.into()],
        model: ModelKind::Mlp,
        width: 16,
        epochs: 40,
        learning_rate: 3e-3,
        ..image_config()
    }
}

/// The slice policy: 20 epochs of REINFORCE on the labeled cases.
pub fn policy_config() -> TrainConfig {
    TrainConfig {
        method: crate::train::methods::slice_policy::METHOD,
        epochs: 20,
        learning_rate: 3e-3,
        ..image_config()
    }
}

/// The fusion student (multimodal and KDAMM): the image settings with the record.
pub fn fusion_config() -> TrainConfig {
    TrainConfig {
        method: crate::train::methods::kdamm::METHOD,
        modalities: vec!["ct".into(), TABULAR_MODALITY.into()],
        // KDAMM reads the unlabeled cases too: a quarter of each batch labeled.
        labeled_per_batch: 4,
        ..image_config()
    }
}

/// One trained run of the bench and what it reported on its own test pool.
struct Outcome {
    seed: u64,
    arm: Arm,
    project: PathBuf,
    run: String,
    accuracy: f64,
    auc: f64,
}

fn outcome(
    seed: u64,
    arm: Arm,
    project: &std::path::Path,
    value: &serde_json::Value,
) -> anyhow::Result<Outcome> {
    let student = &value["student"];
    Ok(Outcome {
        seed,
        arm,
        project: project.to_path_buf(),
        run: run_id(value)?,
        accuracy: student["accuracy"].as_f64().context("no accuracy")?,
        auc: student["auc"].as_f64().context("no AUC")?,
    })
}

/// A run's student on its test pool, item by item (`loupe eval --items`).
#[derive(Clone, Debug, Default)]
struct ItemScores {
    /// Item id → (label, class probabilities).
    items: std::collections::BTreeMap<i64, (usize, Vec<f32>)>,
    /// The answer where the run cannot read a case: its labeled pool's class frequencies.
    prior: Vec<f32>,
}

impl ItemScores {
    fn from_json(value: &serde_json::Value) -> anyhow::Result<Self> {
        let number = |v: &serde_json::Value| v.as_f64().map(|v| v as f32);
        let prior: Option<Vec<f32>> = value["labeled_prior"]
            .as_array()
            .context("no labeled_prior in loupe eval --items")?
            .iter()
            .map(number)
            .collect();
        let mut items = std::collections::BTreeMap::new();
        for item in value["test_items"]
            .as_array()
            .context("no test_items in loupe eval --items")?
        {
            let id = item["item"].as_i64().context("a test item without an id")?;
            let label = item["label"]
                .as_u64()
                .context("a test item without a label")?;
            let probabilities: Option<Vec<f32>> = item["probabilities"]
                .as_array()
                .context("a test item without probabilities")?
                .iter()
                .map(number)
                .collect();
            let probabilities = probabilities.context("a probability that is not a number")?;
            items.insert(id, (label as usize, probabilities));
        }
        Ok(Self {
            items,
            prior: prior.context("a prior that is not a number")?,
        })
    }

    /// Accuracy and AUC on `cases` (item id → label): the run's own
    /// probabilities where it read the case, its prior elsewhere.
    fn on(&self, cases: &std::collections::BTreeMap<i64, usize>) -> (f64, f64) {
        let (truth, probabilities): (Vec<usize>, Vec<Vec<f32>>) = cases
            .iter()
            .map(|(id, &label)| {
                let p = self.items.get(id).map_or(&self.prior, |(_, p)| p);
                (label, p.clone())
            })
            .unzip();
        let m = crate::train::metrics::evaluate(&probabilities, &truth, self.prior.len());
        (m.accuracy, m.auc.unwrap_or(f64::NAN))
    }
}

/// One row's scores on one seed: on every test case and on those with a CT.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Scores {
    seed: u64,
    arm: Arm,
    accuracy: f64,
    auc: f64,
    accuracy_with_ct: f64,
    auc_with_ct: f64,
}

/// Every run of a seed scored on the same cases: the union of their test
/// pools (every test case with a label), and the image models' (the cases
/// with a CT, which every model reads).
fn scores_on_shared_cases(seed: u64, runs: &[(Arm, ItemScores)]) -> anyhow::Result<Vec<Scores>> {
    let mut every_case = std::collections::BTreeMap::new();
    for (_, scores) in runs {
        every_case.extend(scores.items.iter().map(|(id, (label, _))| (*id, *label)));
    }
    let with_ct: std::collections::BTreeMap<i64, usize> = runs
        .iter()
        .find(|(arm, _)| *arm == Arm::ImageMiddle)
        .context("no middle-slice image run to tell the cases with a CT")?
        .1
        .items
        .iter()
        .map(|(id, (label, _))| (*id, *label))
        .collect();
    Ok(runs
        .iter()
        .map(|(arm, scores)| {
            let (accuracy, auc) = scores.on(&every_case);
            let (accuracy_with_ct, auc_with_ct) = scores.on(&with_ct);
            Scores {
                seed,
                arm: *arm,
                accuracy,
                auc,
                accuracy_with_ct,
                auc_with_ct,
            }
        })
        .collect())
}

/// Every outcome's run scored item by item, then on the seed's shared cases.
fn rescore(
    exe: &std::path::Path,
    outcomes: &[Outcome],
    jobs: usize,
) -> anyhow::Result<Vec<Scores>> {
    let evaluated = in_parallel(outcomes.iter().collect(), jobs, |o: &&Outcome| {
        eval_items_json(exe, &o.project, &o.run).and_then(|v| ItemScores::from_json(&v))
    });
    let mut by_seed: std::collections::BTreeMap<u64, Vec<(Arm, ItemScores)>> = Default::default();
    for (o, result) in evaluated {
        let items = result.with_context(|| format!("{}, seed {}", o.arm.name(), o.seed))?;
        by_seed.entry(o.seed).or_default().push((o.arm, items));
    }
    let mut scores = Vec::new();
    for (seed, runs) in by_seed {
        scores.extend(scores_on_shared_cases(seed, &runs)?);
    }
    Ok(scores)
}

fn demo(s: &KdammSettings, seed: u64) -> anyhow::Result<PathBuf> {
    let project = s.dir.join(format!(
        "bone-seed{seed}-{}x{}-labeled{}-spread{}",
        s.count, s.edge, s.labeled_fraction, s.ct_hu_spread
    ));
    if !crate::store::is_project(&project) {
        let options = DemoOptions {
            seed,
            count: s.count,
            size: s.edge,
            labeled_fraction: s.labeled_fraction,
            bone_ct_hu_spread: s.ct_hu_spread,
            ..DemoOptions::new(DemoTask::Bone)
        };
        options.validate()?;
        write_demo(&project, &options, |_, _| {})?;
    }
    Ok(project)
}

fn run_id(value: &serde_json::Value) -> anyhow::Result<String> {
    value["run"]
        .as_str()
        .map(String::from)
        .context("no run id in loupe train --json")
}

pub fn kdamm(s: &KdammSettings, output: &Output) -> anyhow::Result<()> {
    anyhow::ensure!(!s.seeds.is_empty(), "give at least one seed");
    for config in [&s.image, &s.tabular, &s.policy, &s.fusion] {
        config.validate()?;
    }
    std::fs::create_dir_all(&s.dir).with_context(|| format!("creating {}", s.dir.display()))?;
    let exe = std::env::current_exe().context("locating the loupe executable")?;
    let threads = (crate::train::threads::cores() / s.jobs.max(1)).max(1);
    let write = |name: &str, config: &TrainConfig| -> anyhow::Result<PathBuf> {
        let path = s.dir.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(config)?)?;
        Ok(path)
    };
    let image_path = write("config-image.json", &s.image)?;
    let tabular_path = write("config-tabular.json", &s.tabular)?;
    let policy_path = write("config-policy.json", &s.policy)?;
    let fusion_path = write("config-fusion.json", &s.fusion)?;
    let started = Instant::now();
    let projects: Vec<(u64, PathBuf)> = s
        .seeds
        .iter()
        .map(|&seed| Ok((seed, demo(s, seed)?)))
        .collect::<anyhow::Result<_>>()?;
    let mut outcomes: Vec<Outcome> = Vec::new();
    // One stage: each job (seed, project, arm, config, flags) trains; the run
    // ids come back by (seed, arm).
    let mut runs = RunIds::default();
    let stage =
        |jobs: Vec<Job>, outcomes: &mut Vec<Outcome>, runs: &mut RunIds| -> anyhow::Result<()> {
            let results = in_parallel(jobs, s.jobs, |(seed, project, arm, config, flags)| {
                let value = train_json(&exe, project, config, *seed, threads, flags)?;
                let o = outcome(*seed, *arm, project, &value)?;
                eprintln!(
                    "[{:>5.0} s] seed {seed}: {}: accuracy {:.3}, AUC {:.3}",
                    started.elapsed().as_secs_f64(),
                    arm.name(),
                    o.accuracy,
                    o.auc
                );
                anyhow::Ok(o)
            });
            for ((seed, _, arm, _, _), result) in results {
                let o = result.with_context(|| format!("{}, seed {seed}", arm.name()))?;
                runs.insert((seed, arm.name()), o.run.clone());
                outcomes.push(o);
            }
            Ok(())
        };
    let paths = ConfigPaths {
        image: image_path,
        tabular: tabular_path,
        policy: policy_path,
        fusion: fusion_path,
    };
    // Each stage trains on the runs the stages before it left.
    for jobs_of in [
        image_and_record_jobs,
        policy_jobs,
        on_policy_jobs,
        kdamm_jobs,
    ] {
        let jobs = jobs_of(&projects, &paths, &runs);
        stage(jobs, &mut outcomes, &mut runs)?;
    }
    let scores = rescore(&exe, &outcomes, s.jobs)?;
    let mut findings = findings(s, &scores);
    findings.wall_seconds = started.elapsed().as_secs_f64();
    output.emit(&findings)
}

/// One training run of the bench: seed, project, arm, configuration file, flags.
type Job = (u64, PathBuf, Arm, PathBuf, Vec<String>);

/// The runs trained so far, by (seed, arm name).
type RunIds = std::collections::BTreeMap<(u64, &'static str), String>;

/// The configuration files of the bench's arms.
struct ConfigPaths {
    image: PathBuf,
    tabular: PathBuf,
    policy: PathBuf,
    fusion: PathBuf,
}

fn strings(flags: &[&str]) -> Vec<String> {
    flags.iter().map(|f| f.to_string()).collect()
}

/// Stage 1: image classifiers on middle and random slices, the tabular teacher.
fn image_and_record_jobs(projects: &[(u64, PathBuf)], paths: &ConfigPaths, _: &RunIds) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (seed, project) in projects {
        for (arm, config, flags) in [
            (
                Arm::ImageMiddle,
                &paths.image,
                strings(&["--slices", "middle"]),
            ),
            (
                Arm::ImageRandom,
                &paths.image,
                strings(&["--slices", "random"]),
            ),
            (Arm::Tabular, &paths.tabular, Vec::new()),
        ] {
            jobs.push((*seed, project.clone(), arm, config.clone(), flags));
        }
    }
    jobs
}

/// Stage 2: the slice policy, on the middle-slice classifier.
fn policy_jobs(projects: &[(u64, PathBuf)], paths: &ConfigPaths, runs: &RunIds) -> Vec<Job> {
    projects
        .iter()
        .map(|(seed, project)| {
            let classifier = runs[&(*seed, Arm::ImageMiddle.name())].clone();
            let flags = vec!["--teacher".into(), classifier];
            (
                *seed,
                project.clone(),
                Arm::Policy,
                paths.policy.clone(),
                flags,
            )
        })
        .collect()
}

/// Stage 3: the image teacher and the multimodal baseline on the policy's slices.
fn on_policy_jobs(projects: &[(u64, PathBuf)], paths: &ConfigPaths, runs: &RunIds) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (seed, project) in projects {
        let policy = runs[&(*seed, Arm::Policy.name())].clone();
        let on_policy = vec![
            "--slices".to_string(),
            "policy".into(),
            "--policy".into(),
            policy,
        ];
        jobs.push((
            *seed,
            project.clone(),
            Arm::ImagePolicy,
            paths.image.clone(),
            on_policy.clone(),
        ));
        let mut multimodal = on_policy;
        multimodal.extend(strings(&["--method", "multimodal"]));
        let mut all_labeled = multimodal.clone();
        all_labeled.push(format!(
            "--{}",
            crate::train::methods::multimodal::ALL_LABELED_CASES.flag
        ));
        jobs.push((
            *seed,
            project.clone(),
            Arm::Multimodal,
            paths.fusion.clone(),
            multimodal,
        ));
        jobs.push((
            *seed,
            project.clone(),
            Arm::MultimodalAllLabeled,
            paths.fusion.clone(),
            all_labeled,
        ));
    }
    jobs
}

/// Stage 4: KDAMM, taught by the image teacher and the tabular teacher,
/// and its two variants.
fn kdamm_jobs(projects: &[(u64, PathBuf)], paths: &ConfigPaths, runs: &RunIds) -> Vec<Job> {
    use crate::train::methods::kdamm::{TEACHER_SWITCH, WITHOUT_UNLABELED};
    let variants = [
        (Arm::Kdamm, None),
        (Arm::KdammLabeledOnly, Some(WITHOUT_UNLABELED.flag)),
        (Arm::KdammTeacherSwitch, Some(TEACHER_SWITCH.flag)),
    ];
    projects
        .iter()
        .flat_map(|project| variants.iter().map(move |variant| (project, variant)))
        .map(|((seed, project), (arm, switch))| {
            let policy = runs[&(*seed, Arm::Policy.name())].clone();
            let teachers = format!(
                "{},{}",
                runs[&(*seed, Arm::ImagePolicy.name())],
                runs[&(*seed, Arm::Tabular.name())]
            );
            let mut flags = vec![
                "--slices".to_string(),
                "policy".into(),
                "--policy".into(),
                policy,
            ];
            flags.extend(strings(&["--method", "kdamm", "--teachers"]));
            flags.push(teachers);
            flags.extend(switch.map(|flag| format!("--{flag}")));
            (*seed, project.clone(), *arm, paths.fusion.clone(), flags)
        })
        .collect()
}

/// The paired differences the bench is read by (arm, baseline): KDAMM
/// against the multimodal baselines (complete cases, every labeled case)
/// and its tabular teacher; what its unlabeled cases add; the teacher
/// switch; the policy's slices against the middle ones, the middle against
/// random.
const COMPARISONS: [(Arm, Arm); 8] = [
    (Arm::Kdamm, Arm::Multimodal),
    (Arm::Kdamm, Arm::MultimodalAllLabeled),
    (Arm::MultimodalAllLabeled, Arm::Multimodal),
    (Arm::Kdamm, Arm::KdammLabeledOnly),
    (Arm::KdammTeacherSwitch, Arm::Kdamm),
    (Arm::Kdamm, Arm::Tabular),
    (Arm::ImagePolicy, Arm::ImageMiddle),
    (Arm::ImageMiddle, Arm::ImageRandom),
];

fn findings(s: &KdammSettings, scores: &[Scores]) -> Findings {
    let mut findings = Findings::new(
        "kdamm",
        "Osteoporosis screening on the bone demo: slice policy and KDAMM",
        vec![
            Metric::compared("auc", "AUC, every test case"),
            Metric::compared("auc_with_ct", "AUC, test cases with a CT"),
            Metric::compared("accuracy", "accuracy, every test case"),
            Metric::compared("accuracy_with_ct", "accuracy, test cases with a CT"),
        ],
    );
    let image_only: Vec<&str> = Arm::ALL
        .iter()
        .filter(|a| a.image_only())
        .map(|a| a.name())
        .collect();
    findings.setting = format!(
        "Bone demo, {} cases ({} px slices, ~25 % without CT, ~15 % without labs, trabecular HU \
         spread {} HU about the density's), {} % of training cases labeled; seeds {:?} (demo seed = \
         training seed); image models ResNet width {} on k = {} slices, {} epochs; policy {} \
         epochs; fusion {} epochs. Every row is scored on every test case and on the test cases \
         with a CT; the models that read the CT alone ({}) answer a case without one with their \
         labeled pool's class frequencies.",
        s.count,
        s.edge,
        s.ct_hu_spread,
        s.labeled_fraction * 100.0,
        s.seeds,
        s.image.width,
        s.image.slice_config().count,
        s.image.epochs,
        s.policy.epochs,
        s.fusion.epochs,
        image_only.join("; "),
    );
    for arm in Arm::ALL {
        findings.arm(arm.name());
    }
    for (arm, baseline) in COMPARISONS {
        findings.compare(arm.name(), baseline.name());
    }
    for o in scores {
        let values = [
            ("auc", o.auc),
            ("auc_with_ct", o.auc_with_ct),
            ("accuracy", o.accuracy),
            ("accuracy_with_ct", o.accuracy_with_ct),
        ];
        findings.record(o.arm.name(), Pairing::new(o.seed, o.seed), &values);
    }
    findings
}

/// The folder a bench writes to unless told.
pub fn default_dir() -> PathBuf {
    std::env::temp_dir().join("loupe-bench-kdamm")
}

/// METHODS.md §4 on the bone demo: image classifiers on middle, random
/// and policy slices, the slice policy, the tabular teacher, the
/// multimodal baseline on complete cases and KDAMM on all cases. Mean ±
/// sd over seeds of accuracy and AUC.
#[derive(Debug, clap::Args)]
pub struct KdammArgs {
    /// Seeds: each writes its own bone demo and trains with that seed.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Cases per demo.
    #[arg(long, default_value_t = 300)]
    pub count: usize,
    /// A slice's edge in pixels.
    #[arg(long, default_value_t = 64)]
    pub edge: usize,
    /// Fraction of the training cases labeled.
    #[arg(long, default_value_t = 0.5)]
    pub labeled_fraction: f64,
    /// SD in HU of a vertebra's trabecular bone about what its density
    /// says (`loupe demo --ct-hu-spread`): at 0 the CT decides the label and
    /// an image teacher leaves KDAMM nothing to add; 60 HU is one T-score unit.
    #[arg(long, default_value_t = 60.0)]
    pub ct_hu_spread: f64,
    /// Epochs of every model (default: 40 for image, fusion and tabular
    /// models, 20 for the policy).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Runs at once (default 1: each run uses every core).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Where the demo projects and runs go (default: a folder in the temp dir, reused).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: &KdammArgs) -> anyhow::Result<()> {
    let KdammArgs {
        seeds,
        count,
        edge,
        labeled_fraction,
        ct_hu_spread,
        epochs,
        jobs,
        dir,
        output,
    } = args;
    let mut configs = [
        image_config(),
        tabular_config(),
        policy_config(),
        fusion_config(),
    ];
    for config in &mut configs {
        config.input_size = *edge;
        if let Some(epochs) = epochs {
            config.epochs = *epochs;
        }
    }
    let [image, tabular, policy, fusion] = configs;
    kdamm(
        &KdammSettings {
            seeds: seeds.clone(),
            count: *count,
            edge: *edge,
            labeled_fraction: *labeled_fraction,
            ct_hu_spread: *ct_hu_spread,
            image,
            tabular,
            policy,
            fusion,
            jobs: within("--jobs", *jobs, 1..=256)?,
            dir: dir.clone().unwrap_or_else(default_dir),
        },
        output,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(prior: [f32; 2], items: &[(i64, usize, f32)]) -> ItemScores {
        ItemScores {
            items: items
                .iter()
                .map(|&(id, label, p1)| (id, (label, vec![1.0 - p1, p1])))
                .collect(),
            prior: prior.to_vec(),
        }
    }

    #[test]
    fn every_row_is_scored_on_every_test_case_and_on_those_with_a_ct() {
        // The image model read cases 1 and 2 (the ones with a CT); the
        // tabular teacher read all four. By hand: the image model answers
        // 3 and 4 with its prior (0.4 for class 1), so class 1's scores are
        // positives {0.8, 0.4} against negatives {0.4, 0.4}: AUC 3/4;
        // argmax 1 ✓ 2 ✓ 3 ✗ 4 ✓. The tabular teacher: positives {0.7,
        // 0.4} against {0.1, 0.6}: 3/4; argmax 1 ✓ 2 ✓ 3 ✗ 4 ✗.
        let image = scores([0.6, 0.4], &[(1, 1, 0.8), (2, 0, 0.4)]);
        let tabular = scores(
            [0.5, 0.5],
            &[(1, 1, 0.7), (2, 0, 0.1), (3, 1, 0.4), (4, 0, 0.6)],
        );
        let got = scores_on_shared_cases(7, &[(Arm::Tabular, tabular), (Arm::ImageMiddle, image)])
            .unwrap();
        let want = [
            Scores {
                seed: 7,
                arm: Arm::Tabular,
                accuracy: 0.5,
                auc: 0.75,
                accuracy_with_ct: 1.0,
                auc_with_ct: 1.0,
            },
            Scores {
                seed: 7,
                arm: Arm::ImageMiddle,
                accuracy: 0.75,
                auc: 0.75,
                accuracy_with_ct: 1.0,
                auc_with_ct: 1.0,
            },
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn eval_items_are_read_back_and_a_missing_prior_is_named() {
        let value = serde_json::json!({
            "test_items": [{"item": 3, "label": 1, "probabilities": [0.25, 0.75]}],
            "labeled_prior": [0.5, 0.5],
        });
        let read = ItemScores::from_json(&value).unwrap();
        assert_eq!(read.items[&3], (1, vec![0.25, 0.75]));
        assert_eq!(read.prior, vec![0.5, 0.5]);
        let error = ItemScores::from_json(&serde_json::json!({"test_items": []})).unwrap_err();
        assert!(error.to_string().contains("labeled_prior"), "{error}");
    }
}
