//! Gives expressions their values: resolves names (lets of this file, members of imported
//! modules, enumeration values), does arithmetic, calls built-in constructors against their
//! schemas (binding arguments, filling defaults), expands ranges and sweeps, applies `with`.
//!
//! Lets are evaluated on demand and memoized, so their order in a file does not matter; a let
//! that needs itself is reported as a cycle.

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::registry::schema::{CtorKind, Default, ValueType};
use crate::registry::{self};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BinaryOp, Expr, ExprKind, ImportSource, Item, Name};

use super::did_you_mean;
use super::literal;
use super::module_loader::LoadedModules;
use super::param::ParamType;
use super::type_check;
use super::value::{Origin, Value, ValueKind};

/// Ranges longer than this are refused: a sweep over a million points is a typo.
const MAX_RANGE: i64 = 1_000_000;

/// The most values ranges may make and lets may copy in one spec: four million (a few hundred
/// MB), four ranges of the largest size.
const MAX_COPIED_VALUES: usize = 4_000_000;

/// Values nesting deeper than this are refused; real presets nest a handful of levels. Twice
/// the brackets' limit, so any value written out in brackets passes, while lets naming lets
/// cannot nest values without bound.
pub const MAX_VALUE_DEPTH: usize = 2 * crate::syntax::input_limits::MAX_NESTING;

/// A let by the file that declares it and its name.
type LetKey = (FileId, String);

enum LetState {
    Pending,
    InProgress,
    Done(Option<Value>),
}

/// A let, or a parameter (`param NAME: TYPE`): both are names in scope whose value is
/// evaluated once, on demand.
struct LetSlot<'a> {
    name: &'a Name,
    /// The let's expression; `None` for a parameter, whose value is its binding or open.
    expr: Option<&'a Expr>,
    /// The declared type, for a parameter.
    param: Option<ParamType>,
    /// A `--set NAME=EXPR` replacement of a let, or a parameter's `--bind NAME=VALUE`: the
    /// expression and the file it was parsed from.
    replacement: Option<(FileId, &'a Expr)>,
    state: LetState,
}

pub struct Evaluator<'a> {
    lets: HashMap<(FileId, String), LetSlot<'a>>,
    /// Values made by ranges and copied out of lets so far (see [`Evaluator::charge`]).
    copied: usize,
    over_copied: bool,
    /// Import aliases per file: `tms` -> the module `std/tms.dev`.
    aliases: HashMap<(FileId, String), FileId>,
    pub diagnostics: Diagnostics,
}

impl<'a> Evaluator<'a> {
    pub fn new(loaded: &'a LoadedModules) -> Self {
        let mut evaluator = Evaluator {
            lets: HashMap::new(),
            copied: 0,
            over_copied: false,
            aliases: HashMap::new(),
            diagnostics: Diagnostics::default(),
        };
        let mut files: Vec<_> = loaded.modules.keys().copied().collect();
        files.sort();
        for file in files {
            let module = &loaded.modules[&file];
            for item in &module.items {
                match item {
                    Item::Import(import) => {
                        let alias = match &import.source {
                            ImportSource::Std(name) | ImportSource::File { alias: name, .. } => {
                                name
                            }
                        };
                        if let Some(&target) = loaded.imports.get(&(file, import.span)) {
                            evaluator.declare_alias(file, alias, target);
                        }
                    }
                    Item::Let(item) => {
                        evaluator.declare_let(file, &item.name, Some(&item.value));
                    }
                    Item::Param(param) => match ParamType::from_word(&param.ty.text) {
                        Some(ty) => evaluator.declare_param(file, param, ty),
                        None => evaluator.unknown_param_type(file, param),
                    },
                    Item::Step(_) => {}
                }
            }
        }
        evaluator
    }

    fn declare_alias(&mut self, file: FileId, alias: &Name, target: FileId) {
        if registry::constructor(&alias.text).is_some()
            || registry::is_enum_value(alias.text.as_str())
        {
            self.diagnostics.push(
                Diagnostic::error(file, alias.span, format!("`{}` is a built-in name", alias.text))
                    .with_hint("import it under another name: `import \"...\" as my_presets`"),
            );
            return;
        }
        if self.aliases.insert((file, alias.text.clone()), target).is_some() {
            self.diagnostics.push(Diagnostic::error(
                file,
                alias.span,
                format!("`{}` is imported twice", alias.text),
            ));
        }
    }

    fn declare_param(&mut self, file: FileId, param: &'a ast::Param, ty: ParamType) {
        if self.declare_let(file, &param.name, None)
            && let Some(slot) = self.lets.get_mut(&(file, param.name.text.clone()))
        {
            slot.param = Some(ty);
        }
    }

    fn unknown_param_type(&mut self, file: FileId, param: &ast::Param) {
        let words = ParamType::ALL.map(ParamType::word);
        let hint = did_you_mean::hint(&param.ty.text, words)
            .unwrap_or_else(|| format!("a parameter's type is one of: {}", words.join(", ")));
        self.diagnostics.push(
            Diagnostic::error(
                file,
                param.ty.span,
                format!("unknown parameter type `{}`", param.ty.text),
            )
            .with_hint(hint),
        );
    }

    /// Declares a let (or, with no expression, a parameter); false when refused (reported).
    fn declare_let(&mut self, file: FileId, item_name: &'a Name, expr: Option<&'a Expr>) -> bool {
        let name = &item_name.text;
        let redefines = if registry::constructor(name).is_some() {
            Some(format!("`{name}` is a built-in constructor"))
        } else if registry::groups().contains(&name.as_str()) {
            Some(format!("`{name}` is the name of the built-in group `{name}.*`"))
        } else if registry::is_enum_value(name.as_str()) {
            Some(format!(
                "`{name}` is a built-in value (it names an option, as in `method = {name}`)"
            ))
        } else {
            None
        };
        if let Some(why) = redefines {
            self.diagnostics.push(
                Diagnostic::error(
                    file,
                    item_name.span,
                    format!(
                        "a `{}` cannot redefine a built-in name: {why}",
                        if expr.is_some() { "let" } else { "param" }
                    ),
                )
                .with_hint("choose another name, so a name never means two things"),
            );
            return false;
        }
        if let Some(first) = self.lets.get(&(file, name.clone())) {
            let first_span = first.name.span;
            self.diagnostics.push(
                Diagnostic::error(file, item_name.span, format!("`{name}` is defined twice"))
                    .label("second definition")
                    .also_at(file, first_span, "first defined here"),
            );
            return false;
        }
        self.lets.insert(
            (file, name.clone()),
            LetSlot {
                name: item_name,
                expr,
                param: None,
                replacement: None,
                state: LetState::Pending,
            },
        );
        true
    }

    /// The declared type of `file`'s parameter `name`; `None` if it is not a parameter.
    pub fn param_type(&self, file: FileId, name: &str) -> Option<ParamType> {
        self.lets.get(&(file, name.to_owned())).and_then(|slot| slot.param)
    }

    /// Binds a parameter (`--bind NAME=VALUE`) to an expression; false if `file` declares no
    /// such parameter.
    pub fn bind_param(&mut self, file: FileId, name: &str, with: (FileId, &'a Expr)) -> bool {
        match self.lets.get_mut(&(file, name.to_owned())) {
            Some(slot) if slot.param.is_some() => {
                slot.replacement = Some(with);
                true
            }
            Some(_) | None => false,
        }
    }

    /// Replaces a let's expression (`--set NAME=EXPR`); false if there is no such let (a
    /// parameter is not one: it is bound, not set).
    pub fn replace_let(&mut self, file: FileId, name: &str, with: (FileId, &'a Expr)) -> bool {
        match self.lets.get_mut(&(file, name.to_owned())) {
            Some(slot) if slot.param.is_none() => {
                slot.replacement = Some(with);
                true
            }
            Some(_) | None => false,
        }
    }

    /// The names of a file's lets, for did-you-mean hints.
    pub fn let_names(&self, file: FileId) -> Vec<&str> {
        let mut names: Vec<&str> =
            self.lets.keys().filter(|(f, _)| *f == file).map(|(_, name)| name.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// Evaluates every let of every file, so errors in presets nobody uses are reported too.
    ///
    /// Lets are evaluated on demand, and one that names another evaluates it first: done
    /// naively, a chain of lets (`let a0 = a1`, `let a1 = a2`, ...) recurses once per link, and
    /// a generated spec of a few megabytes overflows any stack. So the lets are first ordered
    /// by an explicit depth-first walk of the names their expressions use, each evaluated after
    /// those it names; evaluation then finds every let it needs already done, and recurses only
    /// as deep as one expression nests (bounded by the parser). A let is marked in progress when
    /// the walk enters it, so a cycle is reported where on-demand evaluation would report it.
    pub fn evaluate_all_lets(&mut self) {
        let mut keys: Vec<(FileId, String)> = self.lets.keys().cloned().collect();
        keys.sort();
        for start in keys {
            if !matches!(self.lets[&start].state, LetState::Pending) {
                continue;
            }
            self.lets.get_mut(&start).expect("a declared let").state = LetState::InProgress;
            let mut walk: Vec<(LetKey, std::vec::IntoIter<LetKey>)> =
                vec![(start.clone(), self.named_lets(&start).into_iter())];
            while let Some((_, names)) = walk.last_mut() {
                if let Some(next) = names.next() {
                    if matches!(self.lets[&next].state, LetState::Pending) {
                        self.lets.get_mut(&next).expect("a declared let").state =
                            LetState::InProgress;
                        let named = self.named_lets(&next).into_iter();
                        walk.push((next, named));
                    }
                    continue;
                }
                let (key, _) = walk.pop().expect("not empty");
                self.evaluate_let(&key);
            }
        }
    }

    /// The lets `key`'s expression names, in the order evaluation meets them.
    fn named_lets(&self, key: &LetKey) -> Vec<LetKey> {
        let slot = &self.lets[key];
        let scope = key.0;
        let Some((_, expr)) = slot.replacement.or(slot.expr.map(|expr| (scope, expr))) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut pending = vec![expr];
        while let Some(expr) = pending.pop() {
            if let ExprKind::Path(names) = &expr.kind {
                let named = match names.as_slice() {
                    [name] => Some((scope, name.text.clone())),
                    [group, member] => self
                        .aliases
                        .get(&(scope, group.text.clone()))
                        .map(|&module| (module, member.text.clone())),
                    _ => None,
                };
                found.extend(named.filter(|named| self.lets.contains_key(named)));
            }
            pending.extend(expr.children().into_iter().rev());
        }
        found
    }

    /// Evaluates a let whatever its state, and records its value.
    fn evaluate_let(&mut self, key: &LetKey) -> Option<Value> {
        let slot = &self.lets[key];
        let file = key.0;
        let name_span = slot.name.span;
        let param = slot.param;
        let value = match (slot.replacement.or(slot.expr.map(|expr| (file, expr))), param) {
            (Some((expr_file, expr)), None) => self.eval_in(file, expr_file, expr, None),
            (Some((expr_file, expr)), Some(ty)) => self.bound_value(key, ty, expr_file, expr),
            (None, Some(ty)) => Some(Value::new(
                ValueKind::Open { name: key.1.clone(), ty },
                Origin { file, span: name_span },
            )),
            (None, None) => unreachable!("a let has an expression"),
        };
        let value = value.filter(|value| self.shallow_enough(value, &key.1, file, name_span));
        let slot = self.lets.get_mut(key).expect("slot exists");
        slot.state = LetState::Done(value.clone());
        value
    }

    /// A parameter's bound value (names in it resolve in the spec that declares it), checked
    /// against the declared type: the value a `--bind` gives must be what the spec promised.
    fn bound_value(
        &mut self,
        key: &LetKey,
        ty: ParamType,
        expr_file: FileId,
        expr: &Expr,
    ) -> Option<Value> {
        let declared = ty.value_type();
        let value = self.eval_in(key.0, expr_file, expr, Some(&declared))?;
        let what = format!("the parameter `{}` (declared `{ty}`)", key.1);
        let value = type_check::conform(value, &declared, &what, &mut self.diagnostics)?;
        if let (ParamType::File, ValueKind::File { written, .. }) = (ty, &value.kind)
            && written.contains(['*', '?', '['])
        {
            self.diagnostics.push(
                Diagnostic::error(
                    value.origin.file,
                    value.origin.span,
                    format!(
                        "the parameter `{}` is one `file`, and `{written}` is a pattern",
                        key.1
                    ),
                )
                .with_hint("bind one file's path, or declare the parameter `files`"),
            );
            return None;
        }
        Some(value)
    }

    /// Counts `nodes` more values made from fewer bytes of text (a range's elements, a let's
    /// value copied where it is named) against [`MAX_COPIED_VALUES`]; reports, once, and says
    /// no beyond it. Everything else a spec's values hold is written in its text, which the
    /// input limit bounds; these two multiply it.
    fn charge(&mut self, nodes: usize, file: FileId, span: Span) -> bool {
        self.copied = self.copied.saturating_add(nodes);
        if self.copied <= MAX_COPIED_VALUES {
            return true;
        }
        if !std::mem::replace(&mut self.over_copied, true) {
            self.diagnostics.push(
                Diagnostic::error(
                    file,
                    span,
                    format!(
                        "the spec's values hold more than {MAX_COPIED_VALUES} numbers, names and \
                         lists by here, most of them copies"
                    ),
                )
                .with_hint("a large list or range named many times is copied each time: name it less often"),
            );
        }
        false
    }

    /// Whether a let's value nests within [`MAX_VALUE_DEPTH`] levels; reports it if not. Lets
    /// that hold lists of lets that hold lists... nest values without nesting any expression,
    /// and every walk over a value (checking, planning, dropping) recurses once per level.
    fn shallow_enough(&mut self, value: &Value, name: &str, file: FileId, span: Span) -> bool {
        if value.depth_exceeds(MAX_VALUE_DEPTH) {
            self.diagnostics.push(
                Diagnostic::error(
                    file,
                    span,
                    format!("the value of `{name}` nests more than {MAX_VALUE_DEPTH} levels deep"),
                )
                .with_hint("lists, records and calls nest through the lets they use: flatten it"),
            );
            return false;
        }
        true
    }

    /// The value of a let; `None` if it failed (already reported) or does not exist.
    pub fn let_value(&mut self, file: FileId, name: &str, used_at: Span) -> Option<Value> {
        let key = (file, name.to_owned());
        let slot = self.lets.get(&key)?;
        if let LetState::Done(value) = &slot.state {
            // Charged before copying: a large value named many times is refused, not copied.
            if self.over_copied {
                return None;
            }
            let size = value.as_ref().map_or(0, Value::node_count);
            if !self.charge(size, file, used_at) {
                return None;
            }
            if let LetState::Done(value) = &self.lets[&key].state {
                return value.clone();
            }
        }
        let slot = self.lets.get_mut(&key).expect("looked up above");
        match &slot.state {
            LetState::Done(_) => unreachable!("returned above"),
            LetState::InProgress => {
                let span = slot.name.span;
                self.diagnostics.push(
                    Diagnostic::error(
                        file,
                        used_at,
                        format!("`{name}` is defined in terms of itself"),
                    )
                    .also_at(file, span, "defined here"),
                );
                return None;
            }
            LetState::Pending => {}
        }
        slot.state = LetState::InProgress;
        self.evaluate_let(&key)
    }

    /// Evaluates an expression written in `file`.
    pub fn eval(
        &mut self,
        file: FileId,
        expr: &Expr,
        expected: Option<&ValueType>,
    ) -> Option<Value> {
        self.eval_in(file, file, expr, expected)
    }

    /// Evaluates an expression whose names resolve in `scope` but whose text is in `file`
    /// (the two differ for `--set` values, which are parsed from the command line).
    pub fn eval_in(
        &mut self,
        scope: FileId,
        file: FileId,
        expr: &Expr,
        expected: Option<&ValueType>,
    ) -> Option<Value> {
        let origin = Origin { file, span: expr.span };
        let kind = match &expr.kind {
            ExprKind::Int { value, .. } => ValueKind::Int(*value),
            ExprKind::Float { value, .. } => ValueKind::Float(*value),
            ExprKind::Str(text) => ValueKind::Str(text.clone()),
            ExprKind::Bool(value) => ValueKind::Bool(*value),
            ExprKind::Auto => ValueKind::Auto,
            ExprKind::Paren(inner) => return self.eval_in(scope, file, inner, expected),
            ExprKind::List(items) => {
                let inner = match expected {
                    Some(ValueType::List(inner)) => Some(*inner),
                    _ => None,
                };
                let values: Vec<Option<Value>> =
                    items.iter().map(|item| self.eval_in(scope, file, item, inner)).collect();
                ValueKind::List(values.into_iter().collect::<Option<Vec<_>>>()?)
            }
            ExprKind::Record(fields) => {
                ValueKind::Record(self.record(scope, file, fields, expected)?)
            }
            ExprKind::Range(start, end) => {
                let start_value = self.eval_in(scope, file, start, None)?;
                let end_value = self.eval_in(scope, file, end, None)?;
                let (Some(a), Some(b)) = (start_value.as_int(), end_value.as_int()) else {
                    self.diagnostics.push(
                        Diagnostic::error(
                            file,
                            expr.span,
                            "a range needs whole numbers at both ends",
                        )
                        .with_hint("for evenly spaced numbers use `linspace(start, stop, count)`"),
                    );
                    return None;
                };
                if b.saturating_sub(a) > MAX_RANGE {
                    self.diagnostics.push(Diagnostic::error(
                        file,
                        expr.span,
                        format!(
                            "this range has {} elements; at most {MAX_RANGE} are allowed",
                            b.saturating_sub(a)
                        ),
                    ));
                    return None;
                }
                #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)] // 0..=MAX_RANGE
                let elements = b.saturating_sub(a).max(0) as usize;
                if !self.charge(elements, file, expr.span) {
                    return None;
                }
                ValueKind::List((a..b).map(|v| Value::new(ValueKind::Int(v), origin)).collect())
            }
            ExprKind::Neg(inner) => {
                let value = self.eval_in(scope, file, inner, expected)?;
                match value.kind {
                    ValueKind::Int(v) => ValueKind::Int(v.checked_neg()?),
                    ValueKind::Float(v) => ValueKind::Float(-v),
                    _ => {
                        self.diagnostics.push(Diagnostic::error(
                            file,
                            expr.span,
                            format!("`-` works on numbers, not on {}", value.describe()),
                        ));
                        return None;
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let lhs = self.eval_in(scope, file, lhs, None)?;
                let rhs = self.eval_in(scope, file, rhs, None)?;
                self.arithmetic(*op, &lhs, &rhs, origin)?
            }
            ExprKind::Path(names) => return self.path(scope, file, names, expr.span, expected),
            ExprKind::Call { callee, args } => {
                return self.call(scope, file, callee, args, expr.span, expected);
            }
            ExprKind::With { base, overrides } => {
                let base = self.eval_in(scope, file, base, expected)?;
                return self.with(scope, file, base, overrides, origin);
            }
        };
        Some(Value::new(kind, origin))
    }

    fn record(
        &mut self,
        scope: FileId,
        file: FileId,
        fields: &[ast::Field],
        expected: Option<&ValueType>,
    ) -> Option<BTreeMap<String, Value>> {
        let params = match expected {
            Some(ValueType::Record(params)) => Some(*params),
            _ => None,
        };
        let mut out = BTreeMap::new();
        let mut spans: HashMap<&str, Span> = HashMap::new();
        let mut ok = true;
        for field in fields {
            if let Some(first) = spans.insert(&field.name.text, field.name.span) {
                self.diagnostics.push(
                    Diagnostic::error(
                        file,
                        field.name.span,
                        format!("the field `{}` is written twice", field.name.text),
                    )
                    .also_at(file, first, "first written here"),
                );
                ok = false;
                continue;
            }
            let ty =
                params.and_then(|params| registry::param(params, &field.name.text)).map(|p| &p.ty);
            match self.eval_in(scope, file, &field.value, ty) {
                Some(value) => {
                    out.insert(field.name.text.clone(), value);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn arithmetic(
        &mut self,
        op: BinaryOp,
        lhs: &Value,
        rhs: &Value,
        origin: Origin,
    ) -> Option<ValueKind> {
        let fail = |this: &mut Self, message: String| {
            this.diagnostics.push(Diagnostic::error(origin.file, origin.span, message));
            None
        };
        if let Some(open) = open_arithmetic(op, lhs, rhs) {
            return Some(open);
        }
        if let (ValueKind::Int(a), ValueKind::Int(b)) = (&lhs.kind, &rhs.kind) {
            let (a, b) = (*a, *b);
            let result = match op {
                BinaryOp::Add => a.checked_add(b),
                BinaryOp::Sub => a.checked_sub(b),
                BinaryOp::Mul => a.checked_mul(b),
                BinaryOp::Div if b == 0 => return fail(self, "division by zero".into()),
                // Whole numbers that divide exactly stay whole (`steps = 20_000 / 4`).
                BinaryOp::Div if a % b == 0 => Some(a / b),
                BinaryOp::Div => return Some(ValueKind::Float(lhs.as_f64()? / rhs.as_f64()?)),
            };
            return match result {
                Some(v) => Some(ValueKind::Int(v)),
                None => fail(self, "this arithmetic overflows a whole number".into()),
            };
        }
        let (Some(a), Some(b)) = (lhs.as_f64(), rhs.as_f64()) else {
            let culprit = if lhs.as_f64().is_none() { lhs } else { rhs };
            return fail(
                self,
                format!("`{}` works on numbers, not on {}", op.symbol(), culprit.describe()),
            );
        };
        let result = match op {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div if b == 0.0 => return fail(self, "division by zero".into()),
            BinaryOp::Div => a / b,
        };
        if result.is_finite() {
            Some(ValueKind::Float(result))
        } else {
            fail(self, "this arithmetic overflows".into())
        }
    }

    fn path(
        &mut self,
        scope: FileId,
        file: FileId,
        names: &[Name],
        span: Span,
        expected: Option<&ValueType>,
    ) -> Option<Value> {
        let full = ast::dotted(names);
        match names {
            [name] => {
                if self.lets.contains_key(&(scope, name.text.clone())) {
                    let bound = self.is_bound_param(scope, &name.text);
                    return self
                        .let_value(scope, &name.text, span)
                        .map(|v| if bound { v } else { relocate(v, file, span) });
                }
                if registry::is_enum_value(name.text.as_str()) {
                    return Some(Value::new(
                        ValueKind::Enum(name.text.clone()),
                        Origin { file, span },
                    ));
                }
                if registry::constructor(&name.text).is_some() {
                    return self.fail(
                        file,
                        span,
                        format!("`{full}` is a constructor: call it, as in `{full}(...)`"),
                        None,
                    );
                }
                if self.aliases.contains_key(&(scope, name.text.clone()))
                    || registry::groups().contains(&name.text.as_str())
                {
                    return self.fail(
                        file,
                        span,
                        format!("`{full}` is a group of names, not a value"),
                        Some(format!("name one of its members: `{full}.NAME`")),
                    );
                }
                let mut candidates: Vec<&str> = self.let_names(scope);
                let expected_values = expected.map(enum_values_of).unwrap_or_default();
                candidates.extend(expected_values.iter().copied());
                let hint = did_you_mean::hint(&name.text, candidates);
                self.fail(file, span, format!("unknown name `{full}`"), hint)
            }
            [group, member] => {
                if let Some(&module) = self.aliases.get(&(scope, group.text.clone()))
                    && self.lets.contains_key(&(module, member.text.clone()))
                {
                    let bound = self.is_bound_param(module, &member.text);
                    return self
                        .let_value(module, &member.text, span)
                        .map(|v| if bound { v } else { relocate(v, file, span) });
                }
                if registry::constructor(&full).is_some() {
                    return self.fail(
                        file,
                        span,
                        format!("`{full}` is a constructor: call it, as in `{full}(...)`"),
                        None,
                    );
                }
                let imported = self.aliases.get(&(scope, group.text.clone())).copied();
                let mut candidates: Vec<&str> =
                    imported.map(|m| self.let_names(m)).unwrap_or_default();
                let prefix = format!("{}.", group.text);
                candidates.extend(
                    registry::constructors()
                        .iter()
                        .filter_map(|c| c.name.strip_prefix(prefix.as_str())),
                );
                let hint = did_you_mean::hint(&member.text, candidates).or_else(|| {
                    (imported.is_none() && super::stdlib::source(&group.text).is_some()).then(
                        || format!("presets of the stdlib need `import std.{}` first", group.text),
                    )
                });
                self.fail(file, span, format!("unknown name `{full}`"), hint)
            }
            _ => self.fail(
                file,
                span,
                format!("unknown name `{full}`"),
                Some("names have at most one dot: `group.member`".into()),
            ),
        }
    }

    /// A bound parameter's value keeps pointing at the `--bind` text: its files resolve from
    /// where it was bound, and a value out of a field's range is shown where it was given.
    fn is_bound_param(&self, file: FileId, name: &str) -> bool {
        self.lets
            .get(&(file, name.to_owned()))
            .is_some_and(|slot| slot.param.is_some() && slot.replacement.is_some())
    }

    fn fail(
        &mut self,
        file: FileId,
        span: Span,
        message: String,
        hint: Option<String>,
    ) -> Option<Value> {
        let mut diagnostic = Diagnostic::error(file, span, message);
        diagnostic.hint = hint;
        self.diagnostics.push(diagnostic);
        None
    }

    fn call(
        &mut self,
        scope: FileId,
        file: FileId,
        callee: &[Name],
        args: &[ast::Arg],
        span: Span,
        expected: Option<&ValueType>,
    ) -> Option<Value> {
        let name = ast::dotted(callee);
        let callee_span = callee[0].span.to(callee[callee.len() - 1].span);
        let Some(ctor) = registry::constructor(&name) else {
            let is_value = match callee {
                [one] => self.lets.contains_key(&(scope, one.text.clone())),
                [group, member] => self
                    .aliases
                    .get(&(scope, group.text.clone()))
                    .is_some_and(|m| self.lets.contains_key(&(*m, member.text.clone()))),
                _ => false,
            };
            if is_value {
                return self.fail(file, callee_span, format!("`{name}` is a value, not a constructor"), Some(format!("write `{name}` without parentheses, or `{name} with {{ ... }}` to change it")));
            }
            let hint = did_you_mean::hint(&name, registry::constructors().iter().map(|c| c.name));
            return self.fail(file, callee_span, format!("unknown constructor `{name}`"), hint);
        };
        if ctor.kind == CtorKind::Sweep {
            return self.sweep(scope, file, args, span, expected);
        }
        let origin = Origin { file, span };
        let mut bound: BTreeMap<String, Value> = BTreeMap::new();
        // Arguments whose value failed are not reported again as missing.
        let mut attempted: Vec<&str> = Vec::new();
        let mut ok = true;
        for (index, arg) in args.iter().enumerate() {
            let found = match &arg.name {
                Some(arg_name) => registry::param(ctor.params, &arg_name.text),
                None => ctor.params.get(index),
            };
            let Some(param) = found else {
                if let Some(arg_name) = &arg.name {
                    // A misspelt argument is not also reported as missing.
                    let names = || ctor.params.iter().map(|p| p.name);
                    attempted.extend(did_you_mean::closest(&arg_name.text, names()));
                    let hint = did_you_mean::hint(&arg_name.text, names())
                        .or_else(|| Some(format!("`{name}` takes {}", list_names(names()))));
                    self.fail(
                        file,
                        arg_name.span,
                        format!("`{name}` has no argument `{}`", arg_name.text),
                        hint,
                    );
                } else {
                    let message = format!(
                        "`{name}` takes at most {} positional arguments",
                        ctor.params.len()
                    );
                    self.fail(file, arg.value.span, message, None);
                }
                ok = false;
                continue;
            };
            if bound.contains_key(param.name) {
                self.fail(
                    file,
                    arg.value.span,
                    format!("the argument `{}` of `{name}` is given twice", param.name),
                    None,
                );
                ok = false;
                continue;
            }
            attempted.push(param.name);
            let what = format!("argument `{}` of `{name}`", param.name);
            let value = self.eval_in(scope, file, &arg.value, Some(&param.ty)).and_then(|value| {
                type_check::conform(value, &param.ty, &what, &mut self.diagnostics)
            });
            match value {
                Some(value) => {
                    bound.insert(param.name.to_owned(), value);
                }
                None => ok = false,
            }
        }
        for param in ctor.params {
            if bound.contains_key(param.name) || attempted.contains(&param.name) {
                continue;
            }
            match param.default {
                Default::Required => {
                    self.fail(
                        file,
                        callee_span,
                        format!("`{name}` needs the argument `{}` ({})", param.name, param.doc),
                        None,
                    );
                    ok = false;
                }
                Default::Value(lit) => {
                    bound.insert(param.name.to_owned(), literal::to_value(lit, origin));
                }
                Default::Derived(_) => {}
            }
        }
        ok.then(|| {
            Value::new(ValueKind::Ctor { name: ctor.name, kind: ctor.kind, args: bound }, origin)
        })
    }

    fn sweep(
        &mut self,
        scope: FileId,
        file: FileId,
        args: &[ast::Arg],
        span: Span,
        expected: Option<&ValueType>,
    ) -> Option<Value> {
        let (axis_args, positional): (Vec<&ast::Arg>, Vec<&ast::Arg>) =
            args.iter().partition(|arg| arg.name.is_some());
        let [arg] = positional.as_slice() else {
            return self.fail(
                file,
                span,
                "`sweep` takes one list or range: `sweep([1, 2])` or `sweep(0..4)`".into(),
                Some("name its axis with `axis = \"name\"` after the values".into()),
            );
        };
        let axis = match axis_args.as_slice() {
            [] => None,
            [named] => Some(self.axis_name(scope, file, named)?),
            [_, extra, ..] => {
                return self.fail(
                    file,
                    extra.value.span,
                    "`sweep` takes one named argument, `axis`".into(),
                    None,
                );
            }
        };
        // The elements are checked against the field's type where the sweep is used.
        let _ = expected;
        let list = self.eval_in(scope, file, &arg.value, None)?;
        let items = match list.kind {
            ValueKind::List(items) => items,
            ValueKind::Sweep { .. } => return self.fail(file, arg.value.span, "a sweep cannot contain a sweep".into(), Some("several sweeps in one step give their cartesian product: put each in its own field".into())),
            _ => return self.fail(file, arg.value.span, format!("`sweep` takes a list or a range, found {}", list.describe()), None),
        };
        if items.is_empty() {
            return self.fail(
                file,
                arg.value.span,
                "this sweep is empty".into(),
                Some(
                    "a sweep needs at least one value; a range `a..b` is empty when b <= a".into(),
                ),
            );
        }
        let first = shape(&items[0]);
        if let Some(odd) = items.iter().find(|item| shape(item) != first) {
            let odd_span = odd.origin.span;
            let first_span = items[0].origin.span;
            let message =
                format!("this sweep mixes {} and {}", items[0].describe(), odd.describe());
            // A value from a preset or an imported let points into the file that wrote it.
            self.diagnostics.push(
                Diagnostic::error(odd.origin.file, odd_span, message)
                    .also_at(items[0].origin.file, first_span, "the first value")
                    .with_hint("every value of a sweep must have the same type"),
            );
            return None;
        }
        if items.iter().any(contains_sweep) {
            return self.fail(file, arg.value.span, "a sweep cannot contain a sweep".into(), None);
        }
        Some(Value::new(ValueKind::Sweep { values: items, axis }, Origin { file, span }))
    }

    /// The name `axis = "..."` gives a sweep's axis: a string that can name an axis (a
    /// column, a coordinate in `name[axis=value]`).
    fn axis_name(&mut self, scope: FileId, file: FileId, arg: &ast::Arg) -> Option<String> {
        let name = arg.name.as_ref().expect("named arguments only");
        if name.text != "axis" {
            let hint = did_you_mean::hint(&name.text, ["axis"]);
            self.fail(
                file,
                name.span,
                format!("`sweep` has no argument `{}`", name.text),
                Some(hint.unwrap_or_else(|| "its one named argument is `axis`".into())),
            );
            return None;
        }
        let value = self.eval_in(scope, file, &arg.value, None)?;
        let ValueKind::Str(text) = &value.kind else {
            self.fail(
                file,
                arg.value.span,
                format!("`axis` names the sweep's axis with a string, found {}", value.describe()),
                Some("write `axis = \"width\"`".into()),
            );
            return None;
        };
        let usable = !text.is_empty()
            && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && !text.chars().all(|c| c.is_ascii_digit());
        if !usable {
            self.fail(
                file,
                arg.value.span,
                format!("`{text}` cannot name an axis"),
                Some(
                    "use letters, digits, `_`, `.` or `-`, not digits alone (it names a column \
                     and appears in instance names like `net[width=64]`)"
                        .into(),
                ),
            );
            return None;
        }
        Some(text.clone())
    }

    fn with(
        &mut self,
        scope: FileId,
        file: FileId,
        base: Value,
        overrides: &[ast::Field],
        origin: Origin,
    ) -> Option<Value> {
        match base.kind {
            ValueKind::Record(mut fields) => {
                let mut ok = true;
                for field in overrides {
                    if !fields.contains_key(&field.name.text) {
                        let hint = did_you_mean::hint(
                            &field.name.text,
                            fields.keys().map(String::as_str),
                        )
                        .unwrap_or_else(|| {
                            "`with` replaces fields the record has; to add one, write a new record"
                                .into()
                        });
                        self.fail(
                            file,
                            field.name.span,
                            format!("the record has no field `{}`", field.name.text),
                            Some(hint),
                        );
                        ok = false;
                        continue;
                    }
                    match self.eval_in(scope, file, &field.value, None) {
                        Some(value) => {
                            fields.insert(field.name.text.clone(), value);
                        }
                        None => ok = false,
                    }
                }
                ok.then(|| Value::new(ValueKind::Record(fields), origin))
            }
            ValueKind::Ctor { name, kind, mut args } => {
                let ctor =
                    registry::constructor(name).expect("constructed values come from the registry");
                let mut ok = true;
                for field in overrides {
                    let Some(param) = registry::param(ctor.params, &field.name.text) else {
                        let hint = did_you_mean::hint(
                            &field.name.text,
                            ctor.params.iter().map(|p| p.name),
                        );
                        self.fail(
                            file,
                            field.name.span,
                            format!("`{name}` has no argument `{}`", field.name.text),
                            hint,
                        );
                        ok = false;
                        continue;
                    };
                    let what = format!("argument `{}` of `{name}`", param.name);
                    match self.eval_in(scope, file, &field.value, Some(&param.ty)).and_then(|v| {
                        type_check::conform(v, &param.ty, &what, &mut self.diagnostics)
                    }) {
                        Some(value) => {
                            args.insert(param.name.to_owned(), value);
                        }
                        None => ok = false,
                    }
                }
                ok.then(|| Value::new(ValueKind::Ctor { name, kind, args }, origin))
            }
            _ => self.fail(
                file,
                base.origin.span,
                format!(
                    "`with` changes a record or a constructor's value, not {}",
                    base.describe()
                ),
                None,
            ),
        }
    }
}

/// A let's value used elsewhere keeps its contents' origins but is reported at the use site
/// when the value as a whole is wrong there.
/// Arithmetic on an open number is an open number (whole when both sides are whole and the
/// operation keeps them whole), named after the parameter it came from: its value is known
/// only once bound, and its type is what the fields it reaches check.
fn open_arithmetic(op: BinaryOp, lhs: &Value, rhs: &Value) -> Option<ValueKind> {
    let number = |value: &Value| match &value.kind {
        ValueKind::Int(_) => Some((None, true)),
        ValueKind::Float(_) => Some((None, false)),
        ValueKind::Open { name, ty: ParamType::Integer } => Some((Some(name.clone()), true)),
        ValueKind::Open { name, ty: ParamType::Number } => Some((Some(name.clone()), false)),
        _ => None,
    };
    let ((left, left_whole), (right, right_whole)) = (number(lhs)?, number(rhs)?);
    let name = left.or(right)?;
    let whole = left_whole && right_whole && op != BinaryOp::Div;
    Some(ValueKind::Open { name, ty: if whole { ParamType::Integer } else { ParamType::Number } })
}

fn relocate(mut value: Value, file: FileId, span: Span) -> Value {
    if !matches!(value.kind, ValueKind::Record(_)) {
        value.origin = Origin { file, span };
    }
    value
}

/// A coarse type for the "sweep of mixed types" check: numbers of either kind mix freely.
fn shape(value: &Value) -> &'static str {
    match &value.kind {
        ValueKind::Int(_) | ValueKind::Float(_) => "number",
        ValueKind::Str(_) | ValueKind::File { .. } => "string",
        ValueKind::Bool(_) => "bool",
        ValueKind::Auto => "auto",
        ValueKind::Enum(_) => "name",
        ValueKind::List(_) => "list",
        ValueKind::Record(_) => "record",
        ValueKind::Ctor { .. } => "constructor",
        ValueKind::Sweep { .. } => "sweep",
        ValueKind::Open { ty, .. } => ty.word(),
    }
}

fn contains_sweep(value: &Value) -> bool {
    match &value.kind {
        ValueKind::Sweep { .. } => true,
        ValueKind::List(items) => items.iter().any(contains_sweep),
        ValueKind::Record(fields) => fields.values().any(contains_sweep),
        ValueKind::Ctor { args, .. } => args.values().any(contains_sweep),
        _ => false,
    }
}

fn enum_values_of(ty: &ValueType) -> Vec<&'static str> {
    match ty {
        ValueType::Enum(values) => values.to_vec(),
        ValueType::OneOf(types) => types.iter().flat_map(enum_values_of).collect(),
        ValueType::List(inner) => enum_values_of(inner),
        _ => Vec::new(),
    }
}

fn list_names<'n>(names: impl Iterator<Item = &'n str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() { "no arguments".into() } else { names.join(", ") }
}
