//! The stdlib: `.dev` modules of published settings, shipped inside the binary so
//! `import std.tms` works anywhere. Each preset names its paper in a comment.

const MODULES: &[(&str, &str)] = &[
    ("dln", include_str!("../../stdlib/dln.dev")),
    ("icl", include_str!("../../stdlib/icl.dev")),
    ("induction", include_str!("../../stdlib/induction.dev")),
    ("modular", include_str!("../../stdlib/modular.dev")),
    ("tms", include_str!("../../stdlib/tms.dev")),
];

pub fn source(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|(name, _)| *name)
}
