//! The training methods as one family, and their registry. A method is one
//! file here: its [`MethodSpec`](super::spec::MethodSpec) (what it reads,
//! whether it keeps a teacher, its series, its settings) and its optimizer
//! step, exported as one `DECLARATION`; one line in [`BUILT_IN`] registers
//! it. The run loop does the rest (sampling, schedules, evaluation,
//! checkpoints), the same for every method, so methods are compared on the
//! same steps and images.
//!
//! A method defined outside this folder (a test's, a plug-in's) joins the
//! family at run time with [`register`]: the panel, `loupe train` and
//! `config.json` find it as they find the built-in ones.

pub mod cross_modal_kd;
pub mod kdamm;
pub mod mean_teacher;
pub mod multimodal;
pub mod protokd;
pub mod segmentation;
pub mod slice_policy;
pub mod supervised;

use std::sync::RwLock;

use serde::Deserialize;

use super::spec::Method;
use super::step::Declaration;

/// The methods Loupe ships, in the order the panel lists them.
pub const BUILT_IN: [Declaration; 8] = [
    supervised::DECLARATION,
    mean_teacher::DECLARATION,
    cross_modal_kd::DECLARATION,
    slice_policy::DECLARATION,
    multimodal::DECLARATION,
    kdamm::DECLARATION,
    segmentation::DECLARATION,
    protokd::DECLARATION,
];

/// Methods registered at run time, after the built-in ones.
static REGISTERED: RwLock<Vec<Declaration>> = RwLock::new(Vec::new());

/// Adds a method to the family (its name must be new).
pub fn register(declaration: Declaration) -> Result<(), String> {
    let name = declaration.method.name();
    if find(name).is_some() {
        return Err(format!("a method named {name} is already registered"));
    }
    REGISTERED
        .write()
        .map_err(|_| "the method registry is poisoned".to_string())?
        .push(declaration);
    Ok(())
}

/// Every method: the built-in ones, then those registered at run time.
pub fn all() -> Vec<Declaration> {
    let mut out = BUILT_IN.to_vec();
    if let Ok(registered) = REGISTERED.read() {
        out.extend(registered.iter().copied());
    }
    out
}

/// The method named `name` (its contract name).
pub fn find(name: &str) -> Option<Declaration> {
    all().into_iter().find(|d| d.method.name() == name)
}

/// The declaration of a configured method.
pub fn declaration(method: Method) -> Option<Declaration> {
    find(method.name())
}

/// The method named `name`, or an error listing the names there are.
pub fn method_named(name: &str) -> Result<Method, String> {
    find(name).map(|d| d.method).ok_or_else(|| {
        let names: Vec<&str> = all().iter().map(|d| d.method.name()).collect();
        format!("unknown method {name:?} (methods: {})", names.join(", "))
    })
}

/// `config.json` names its method; the registry turns the name into the
/// method's declaration. (The impl lives here, with the registry, so the
/// configuration stays below the methods that read it.)
impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        method_named(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::spec::Task;
    use crate::train::step::Stepper;

    #[test]
    fn method_names_are_the_contract_and_each_step_fits_its_task() {
        let names: Vec<&str> = BUILT_IN.iter().map(|d| d.method.name()).collect();
        assert_eq!(
            names,
            [
                "supervised",
                "mean-teacher",
                "cross-modal-kd",
                "slice-policy",
                "multimodal",
                "kdamm",
                "segmentation",
                "protokd"
            ]
        );
        for d in BUILT_IN {
            let json = serde_json::to_value(d.method).unwrap();
            assert_eq!(json, d.method.name());
            assert_eq!(serde_json::from_value::<Method>(json).unwrap(), d.method);
            let fits = matches!(
                ((d.build)(), d.method.spec().task),
                (Stepper::Classify(_), Task::Classify) | (Stepper::Segment(_), Task::Segment)
            );
            assert!(fits, "{} builds a step of another task", d.method.name());
            // A flag names one setting of a method; names are unique too.
            let settings = d.method.spec().settings;
            for (i, s) in settings.iter().enumerate() {
                assert!(
                    settings[i + 1..]
                        .iter()
                        .all(|o| o.name != s.name && o.flag != s.flag),
                    "{}: {} declared twice",
                    d.method.name(),
                    s.name
                );
                assert_eq!(s.check(s.default_value()), Ok(s.default_value()));
            }
        }
        let refused = serde_json::from_str::<Method>("\"mean_teacher\"").unwrap_err();
        assert!(refused.to_string().contains("unknown method"), "{refused}");
    }

    #[test]
    fn one_flag_means_one_kind_across_methods() {
        // `--temperature` is KDAMM's and ProtoKD's: the same flag must parse
        // the same kind of value for every method that declares it.
        let all = all();
        for a in &all {
            for s in a.method.spec().settings {
                for b in &all {
                    if let Some(o) = b.method.spec().setting_by_flag(s.flag) {
                        assert_eq!(
                            std::mem::discriminant(&s.kind),
                            std::mem::discriminant(&o.kind),
                            "--{} of {} and {}",
                            s.flag,
                            a.method.name(),
                            b.method.name()
                        );
                    }
                }
            }
        }
    }
}
