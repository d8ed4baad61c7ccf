//! A researcher opens runs written before methods declared their settings:
//! each method's `config.json` as Loupe wrote it then (committed copies in
//! `tests/fixtures/configs/`) opens, every setting it kept in its old place
//! reaches the method's declared setting, and the run folder lists and
//! overlays as before.

use loupe::train::config::TrainConfig;
use loupe::train::methods::{
    cross_modal_kd, kdamm, mean_teacher, multimodal, protokd, slice_policy, supervised,
};
use loupe::train::spec::{Setting, SettingValue};

fn fixture(method: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/configs")
        .join(format!("{method}.json"));
    std::fs::read_to_string(path).unwrap()
}

fn open(method: &str) -> TrainConfig {
    let config: TrainConfig = serde_json::from_str(&fixture(method)).unwrap();
    assert_eq!(config.method.name(), method);
    config.validate().unwrap();
    config
}

/// Every setting of `method`'s fixture, as the old file held it (a
/// setting declared since, with nowhere in old files, at the value that
/// reproduces what the old run did: no weight decay, METHODS.md's plain
/// consistency from epoch 0, a teacher without dropout, whole volumes for
/// a 3-D U-Net).
fn expected(method: &str) -> Vec<(&'static Setting, SettingValue)> {
    use SettingValue::{Count, Number, Switch};
    let decay = (&loupe::train::optimisation::WEIGHT_DECAY, Number(0.0));
    let segmentation = [
        (&loupe::train::segmentation::SLICES_PER_CASE, Count(6)),
        // A 3-D U-Net run from before patches trained whole volumes.
        (&loupe::train::segmentation::PATCH_EDGE, Count(0)),
        (&loupe::train::segmentation::PATCHES_PER_CASE, Count(4)),
        (&loupe::train::segmentation::WEIGHT_DECAY, Number(1e-4)),
    ];
    match method {
        "mean-teacher" => vec![
            (&mean_teacher::EMA_DECAY, Number(0.95)),
            (&mean_teacher::CONSISTENCY_WEIGHT, Number(2.5)),
            (&mean_teacher::RAMPUP_EPOCHS, Number(12.0)),
            (&mean_teacher::RELATION_WEIGHT, Number(0.5)),
            (&mean_teacher::CLASS_WEIGHTED_CONSISTENCY, Switch(false)),
            (&mean_teacher::CONSISTENCY_START_EPOCH, Number(0.0)),
            (&mean_teacher::TEACHER_DROPOUT, Switch(false)),
            decay,
        ],
        "cross-modal-kd" => vec![
            (&cross_modal_kd::ALPHA, Number(0.3)),
            (&cross_modal_kd::GRAD_RATIO, Switch(false)),
            (&cross_modal_kd::STANDARDISE_TEACHER, Switch(false)),
            decay,
        ],
        "slice-policy" => vec![(&slice_policy::ENTROPY_WEIGHT, Number(0.02)), decay],
        "kdamm" => vec![
            (&kdamm::TEMPERATURE, Number(3.0)),
            (&kdamm::CE_WEIGHT, Number(0.7)),
            (&kdamm::KD_WEIGHT, Number(1.5)),
            // Declared since: off is what KDAMM always did.
            (&kdamm::WITHOUT_UNLABELED, Switch(false)),
            (&kdamm::TEACHER_SWITCH, Switch(false)),
            decay,
        ],
        "supervised" => vec![decay],
        // Declared since: off is the complete-case baseline it always was.
        "multimodal" => vec![(&multimodal::ALL_LABELED_CASES, Switch(false)), decay],
        "segmentation" => segmentation.to_vec(),
        "protokd" => {
            let mut all = segmentation.to_vec();
            all.extend([
                (&protokd::TEMPERATURE, Number(7.0)),
                (&protokd::KD_WEIGHT, Number(5.0)),
                (&protokd::PROTO_WEIGHT, Number(0.2)),
            ]);
            all
        }
        _ => Vec::new(),
    }
}

const METHODS: [&str; 8] = [
    "supervised",
    "mean-teacher",
    "cross-modal-kd",
    "slice-policy",
    "multimodal",
    "kdamm",
    "segmentation",
    "protokd",
];

#[test]
fn every_method_s_old_config_opens_with_its_settings() {
    for method in METHODS {
        let config = open(method);
        // Chosen as it was then: by validation accuracy.
        assert_eq!(
            config.choose_by,
            loupe::train::config::ChoiceRule::Accuracy,
            "{method}"
        );
        let settings = config.method.spec().settings;
        let expected = expected(method);
        assert_eq!(
            settings.len(),
            expected.len(),
            "{method}: every setting checked"
        );
        for (setting, value) in expected {
            assert_eq!(config.value(setting), value, "{method}: {}", setting.name);
        }
        // Written again as a run writes it (every setting of the method,
        // under its section), it reads back the same.
        let written = serde_json::to_string(&config.with_method_settings_only()).unwrap();
        let again: TrainConfig = serde_json::from_str(&written).unwrap();
        let json: serde_json::Value = serde_json::from_str(&written).unwrap();
        for setting in settings {
            assert_eq!(again.value(setting), config.value(setting), "{method}");
            // Under `settings`, and where scripts read it before.
            let value = serde_json::to_value(config.value(setting)).unwrap();
            let section = &json["settings"][setting.section][setting.name];
            assert_eq!(section, &value, "{method}: {}", setting.name);
            if !setting.legacy.is_empty() {
                assert_eq!(json.pointer(setting.legacy), Some(&value), "{method}");
            }
        }
    }
    // The settings that were common stay where they were.
    let supervised = open("supervised");
    assert_eq!(supervised.method, supervised::METHOD);
    assert_eq!((supervised.input_size, supervised.width), (64, 8));
    assert_eq!(supervised.slice_config().count, 3);
}

#[test]
fn an_old_run_folder_lists_and_overlays() {
    let dir = tempfile::tempdir().unwrap();
    for (i, method) in METHODS.iter().enumerate() {
        let run = dir.path().join("runs").join(format!("{i}-{method}"));
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("config.json"), fixture(method)).unwrap();
        std::fs::write(
            run.join("metrics.jsonl"),
            r#"{"epoch":0,"series":{"loss/total":0.5},"student":{"accuracy":0.5},"seconds":1.0}"#,
        )
        .unwrap();
    }
    let runs = loupe::train::runs::list(dir.path());
    assert_eq!(runs.len(), METHODS.len());
    for run in &runs {
        let config = run
            .config
            .as_ref()
            .unwrap_or_else(|| panic!("{} opens", run.id));
        assert!(run.id.ends_with(config.method.name()), "{}", run.id);
    }
    // A configuration that names a method nobody registered says so.
    let unknown = fixture("kdamm").replace("\"kdamm\"", "\"kdamm-2\"");
    let error = serde_json::from_str::<TrainConfig>(&unknown).unwrap_err();
    assert!(
        error.to_string().contains("unknown method \"kdamm-2\""),
        "{error}"
    );
}
