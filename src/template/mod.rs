//! Templates: minijinja with Ansible's filters, tests, lookups and lazy variables.
//!
//! Variables are kept as written. A variable whose value is a template is rendered when a
//! template uses it, with the variables of the host and task at hand, recursively; a
//! variable that refers back to itself is reported as a loop rather than overflowing.

mod filters;
mod lookups;
mod methods;
mod scope;
mod tests;

pub use scope::{HostVarsSource, Scope, VarMap};

use crate::diagnostic::Diagnostic;
use crate::source::Span;
use minijinja::value::ValueKind;
use minijinja::{Environment, UndefinedBehavior, Value};
use std::sync::Arc;

/// How the template module renders a file.
#[derive(Debug, Clone)]
pub struct FileOptions {
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    pub block: Option<(String, String)>,
    pub variable: Option<(String, String)>,
    pub comment: Option<(String, String)>,
    /// Directories searched for included templates, in order.
    pub search: Vec<std::path::PathBuf>,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            trim_blocks: true,
            lstrip_blocks: false,
            block: None,
            variable: None,
            comment: None,
            search: Vec::new(),
        }
    }
}

/// Whether a string holds Jinja syntax and so must be rendered before use.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The placeholder `omit` stands for: an argument whose value is this is dropped.
pub const OMIT: &str = "__omit_place_holder__8d0fc1c2d1e1";

/// `omit`: a value of its own kind (not a string, as in Ansible 2.19) that prints as the
/// placeholder, so an argument set to it can be recognised and dropped.
#[derive(Debug)]
struct Omit;

impl minijinja::value::Object for Omit {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str(OMIT)
    }
}

/// A YAML timestamp: prints as written, `type_debug` says `date` or `datetime`.
#[derive(Debug)]
pub struct Timestamp {
    pub text: String,
}

impl minijinja::value::Object for Timestamp {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str(&self.text)
    }
}

impl Timestamp {
    pub fn python_type(&self) -> &'static str {
        if self.text.len() <= 10 {
            "date"
        } else {
            "datetime"
        }
    }
}

pub fn timestamp(text: &str) -> Value {
    Value::from_object(Timestamp {
        text: text.to_string(),
    })
}

pub fn omit() -> Value {
    Value::from_object(Omit)
}

/// Whether a value is `omit` (or its placeholder text).
pub fn is_omit(value: &Value) -> bool {
    value.downcast_object_ref::<Omit>().is_some() || value.as_str() == Some(OMIT)
}

/// Guards against templates that never end (`{% for i in range(10**9) %}`).
const FUEL: u64 = 50_000_000;

/// The template engine shared by every host and task of a run.
pub struct Templar {
    env: Environment<'static>,
}

impl Default for Templar {
    fn default() -> Self {
        Templar::new()
    }
}

impl Templar {
    pub fn new() -> Templar {
        let mut env = Environment::new();
        // Ansible's undefined is chainable (`x.y | default(z)` works when `x` is
        // undefined) but printing one fails. minijinja's chainable behaviour plus a
        // formatter that refuses undefined gives exactly that; conditions and lone
        // expressions that end up undefined are refused below.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_formatter(|out, state, value| {
            if value.is_undefined() {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::UndefinedError,
                    "an undefined value cannot be printed",
                ));
            }
            // Ansible's finalize prints None as nothing.
            if value.is_none() {
                return Ok(());
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.set_fuel(Some(FUEL));
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        minijinja_contrib::add_to_environment(&mut env);
        filters::register(&mut env);
        tests::register(&mut env);
        env.set_unknown_method_callback(methods::unknown_method);
        register_extensions(&mut env);
        lookups::register(&mut env);
        Templar { env }
    }

    pub fn env(&self) -> &Environment<'static> {
        &self.env
    }

    /// Renders a string from a playbook: a lone `{{ expr }}` keeps its type (a list stays
    /// a list), anything else is text. Strings without template syntax come back as is.
    pub fn render_value(
        &self,
        text: &str,
        scope: &Scope,
        span: &Span,
    ) -> Result<Value, Diagnostic> {
        if !is_template(text) {
            return Ok(Value::from(text));
        }
        let result = if let Some(expression) = lone_expression(text) {
            self.eval_expression(expression, scope)
                .and_then(|value| defined(value, expression))
                .map(finish_native)
        } else {
            self.env
                .render_str(text, scope.as_value())
                .map(Value::from_safe_string)
        };
        result.map_err(|error| {
            scope
                .take_error()
                .unwrap_or_else(|| template_error(&error, text, span))
        })
    }

    /// Renders a string and returns text (template files, names, messages).
    pub fn render_text(
        &self,
        text: &str,
        scope: &Scope,
        span: &Span,
    ) -> Result<String, Diagnostic> {
        if !is_template(text) {
            return Ok(text.to_string());
        }
        self.env
            .render_str(text, scope.as_value())
            .map_err(|error| {
                scope
                    .take_error()
                    .unwrap_or_else(|| template_error(&error, text, span))
            })
    }

    /// Renders a template file named `name` (for error messages) with `scope`.
    pub fn render_file(&self, name: &str, text: &str, scope: &Scope) -> Result<String, Diagnostic> {
        self.render_file_with(name, text, scope, &FileOptions::default())
    }

    /// Renders a template file with the template module's options: whitespace control,
    /// delimiters, and where `{% include %}`/`{% import %}` look for other templates.
    pub fn render_file_with(
        &self,
        name: &str,
        text: &str,
        scope: &Scope,
        options: &FileOptions,
    ) -> Result<String, Diagnostic> {
        let file = crate::source::SourceFile::new(name, text);
        let span = Span {
            file: Some(file),
            line: 1,
            column: 1,
            length: 1,
        };
        let mut env = self.env.clone();
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax
            .trim_blocks(options.trim_blocks)
            .lstrip_blocks(options.lstrip_blocks)
            .keep_trailing_newline(true);
        if let Some((start, end)) = &options.block {
            syntax.block_delimiters(start.clone(), end.clone());
        }
        if let Some((start, end)) = &options.variable {
            syntax.variable_delimiters(start.clone(), end.clone());
        }
        if let Some((start, end)) = &options.comment {
            syntax.comment_delimiters(start.clone(), end.clone());
        }
        env.set_syntax(
            syntax
                .build()
                .map_err(|e| Diagnostic::new(format!("bad template delimiters: {e}")))?,
        );
        let search = options.search.clone();
        env.set_loader(move |included: &str| {
            for dir in &search {
                let path = dir.join(included);
                if path.is_file() {
                    // Ansible keeps the top template's final newline but, as plain Jinja,
                    // drops the one at the end of an included template.
                    return crate::source::read_input_text(&path)
                        .map(|text| {
                            Some(text.strip_suffix('\n').map(str::to_string).unwrap_or(text))
                        })
                        .map_err(|e| {
                            minijinja::Error::new(minijinja::ErrorKind::TemplateNotFound, e)
                        });
                }
            }
            Ok(None)
        });
        env.render_named_str(name, text, scope.as_value())
            // A final block tag can eat the last newline (trim_blocks); Ansible puts it back.
            .map(|mut rendered| {
                if text.ends_with('\n') && !rendered.ends_with('\n') {
                    rendered.push('\n');
                }
                rendered
            })
            .map_err(|error| {
                scope
                    .take_error()
                    .unwrap_or_else(|| template_error_in_file(&error, &span))
            })
    }

    /// Evaluates a bare expression (`when:`, `failed_when:`, `that:`), Ansible-style: a
    /// string that is itself a template is rendered first.
    pub fn eval_condition(
        &self,
        condition: &Value,
        scope: &Scope,
        span: &Span,
    ) -> Result<bool, Diagnostic> {
        match condition.kind() {
            ValueKind::Bool => Ok(condition.is_true()),
            ValueKind::None | ValueKind::Undefined => Ok(false),
            ValueKind::Number => Ok(condition.is_true()),
            ValueKind::String => {
                let text = condition.as_str().unwrap_or_default().trim();
                let expression = if is_template(text) {
                    let rendered = self.render_value(text, scope, span)?;
                    if rendered.kind() != ValueKind::String {
                        return Ok(truthy(&rendered));
                    }
                    rendered.as_str().unwrap_or_default().trim().to_string()
                } else {
                    text.to_string()
                };
                if expression.is_empty() {
                    return Ok(false);
                }
                let value = self
                    .eval_expression(&expression, scope)
                    .and_then(|value| defined(value, &expression))
                    .map_err(|error| {
                        scope.take_error().unwrap_or_else(|| {
                            template_error(&error, &expression, span).with_help_if_none(
                                "conditions are Jinja expressions without `{{ }}`: `when: x == 1`",
                            )
                        })
                    })?;
                Ok(truthy(&value))
            }
            _ => Ok(truthy(condition)),
        }
    }

    /// Evaluates a Jinja expression against a scope.
    pub fn eval_expression(
        &self,
        expression: &str,
        scope: &Scope,
    ) -> Result<Value, minijinja::Error> {
        let compiled = self.env.compile_expression(expression)?;
        compiled.eval(scope.as_value())
    }

    /// Renders every string inside a data structure (task arguments, `vars:` values).
    pub fn render_deep(
        &self,
        value: &Value,
        scope: &Scope,
        span: &Span,
    ) -> Result<Value, Diagnostic> {
        match value.kind() {
            ValueKind::String if !value.is_safe() => {
                self.render_value(value.as_str().unwrap_or_default(), scope, span)
            }
            ValueKind::Seq => {
                let mut items = Vec::new();
                for item in value
                    .try_iter()
                    .map_err(|e| Diagnostic::at(e.to_string(), span))?
                {
                    items.push(self.render_deep(&item, scope, span)?);
                }
                Ok(Value::from(items))
            }
            ValueKind::Map => {
                let mut entries = Vec::new();
                for key in value
                    .try_iter()
                    .map_err(|e| Diagnostic::at(e.to_string(), span))?
                {
                    let item = value.get_item(&key).unwrap_or_default();
                    let key = if key.as_str().is_some_and(is_template) {
                        self.render_value(key.as_str().unwrap_or_default(), scope, span)?
                    } else {
                        key
                    };
                    entries.push((key, self.render_deep(&item, scope, span)?));
                }
                Ok(Value::from_pairs(entries))
            }
            _ => Ok(value.clone()),
        }
    }
}

/// `{{ expr }}` with nothing around it: Ansible returns the expression's own type.
fn lone_expression(text: &str) -> Option<&str> {
    let trimmed = text.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = trimmed.strip_prefix('-').unwrap_or(trimmed);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if ends_early(inner) {
        return None;
    }
    Some(inner.trim())
}

/// Whether the text inside `{{ ... }}` holds more than one expression: the first one
/// closes (`}` outside brackets and strings) or another tag opens before the end, as in
/// `{{ a }} and {{ b }}`. Braces of dict literals (`{{ {'a': {'b': 1}} }}`) and text in
/// strings do not count, as Jinja's lexer balances them too.
fn ends_early(inner: &str) -> bool {
    let bytes = inner.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'{' if depth == 0 && matches!(next, Some(b'{' | b'%' | b'#')) => return true,
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => match depth.checked_sub(1) {
                    Some(less) => depth = less,
                    None => return true,
                },
                b'%' | b'#' if depth == 0 && next == Some(b'}') => return true,
                _ => {}
            },
        }
        i += 1;
    }
    false
}

/// A lone expression or a condition that ends up undefined is an error, as in Ansible.
fn defined(value: Value, expression: &str) -> Result<Value, minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::UndefinedError,
            format!("`{}` is undefined", expression.trim()),
        ));
    }
    Ok(value)
}

/// A native result: strings that came out of a render are final (never rendered again).
fn finish_native(value: Value) -> Value {
    match value.kind() {
        ValueKind::String if !value.is_safe() => {
            Value::from_safe_string(value.as_str().unwrap_or_default().to_string())
        }
        _ => value,
    }
}

/// Ansible's truthiness for conditions: strings like "false" and "no" are false too when
/// they come from a render.
pub fn truthy(value: &Value) -> bool {
    match value.kind() {
        ValueKind::String => {
            let text = value
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            !matches!(
                text.as_str(),
                "" | "false" | "no" | "off" | "0" | "none" | "n" | "f"
            )
        }
        _ => value.is_true(),
    }
}

fn register_extensions(env: &mut Environment<'static>) {
    env.add_global("omit", omit());
    // Jinja2's truncate(s, length=255, killwords=False, end='...', leeway=5), positional
    // arguments included (minijinja-contrib's takes keywords only).
    env.add_filter(
        "truncate",
        |value: &Value,
         args: minijinja::value::Rest<Value>,
         kwargs: minijinja::value::Kwargs|
         -> Result<String, minijinja::Error> {
            let text = value.to_string();
            let length = match args.first() {
                Some(v) => usize::try_from(v.clone())?,
                None => kwargs.get::<Option<usize>>("length")?.unwrap_or(255),
            };
            let killwords = match args.get(1) {
                Some(v) => v.is_true(),
                None => kwargs.get::<Option<bool>>("killwords")?.unwrap_or(false),
            };
            let end = match args.get(2) {
                Some(v) => v.to_string(),
                None => kwargs
                    .get::<Option<String>>("end")?
                    .unwrap_or_else(|| "...".to_string()),
            };
            let leeway = match args.get(3) {
                Some(v) => usize::try_from(v.clone())?,
                None => kwargs.get::<Option<usize>>("leeway")?.unwrap_or(5),
            };
            kwargs.assert_all_used()?;
            let chars: Vec<char> = text.chars().collect();
            if chars.len() <= length + leeway {
                return Ok(text);
            }
            let keep: String = chars[..length.saturating_sub(end.chars().count())]
                .iter()
                .collect();
            if killwords {
                return Ok(keep + &end);
            }
            let cut = match keep.rsplit_once(' ') {
                Some((head, _)) => head.to_string(),
                None => keep,
            };
            Ok(cut + &end)
        },
    );
    // Python's dict(): from a list of pairs and/or keyword arguments.
    env.add_function(
        "dict",
        |pairs: Option<Value>,
         kwargs: minijinja::value::Kwargs|
         -> Result<Value, minijinja::Error> {
            let mut entries: Vec<(Value, Value)> = Vec::new();
            if let Some(pairs) = pairs {
                if pairs.kind() == ValueKind::Map {
                    for key in pairs.try_iter()? {
                        let item = pairs.get_item(&key)?;
                        entries.push((key, item));
                    }
                } else {
                    for pair in pairs.try_iter()? {
                        let mut parts = pair.try_iter()?;
                        match (parts.next(), parts.next(), parts.next()) {
                            (Some(key), Some(item), None) => entries.push((key, item)),
                            _ => {
                                return Err(minijinja::Error::new(
                                    minijinja::ErrorKind::InvalidOperation,
                                    "dict() needs pairs of (key, value)",
                                ))
                            }
                        }
                    }
                }
            }
            for key in kwargs.args() {
                entries.push((Value::from(key), kwargs.get::<Value>(key)?));
            }
            Ok(Value::from_pairs(entries))
        },
    );
    // Tests on controller paths, as Ansible's `exists`, `file`, `directory`, `link`.
    let path_test = |check: fn(&std::path::Path) -> bool| {
        move |value: &Value| -> bool {
            value
                .as_str()
                .is_some_and(|p| check(std::path::Path::new(p)))
        }
    };
    for prefix in ["", "ansible.builtin."] {
        env.add_test(format!("{prefix}exists"), path_test(|p| p.exists()));
        env.add_test(format!("{prefix}file"), path_test(|p| p.is_file()));
        env.add_test(format!("{prefix}directory"), path_test(|p| p.is_dir()));
        env.add_test(format!("{prefix}link"), path_test(|p| p.is_symlink()));
        env.add_test(format!("{prefix}mount"), path_test(is_mount_point));
    }
}

fn is_mount_point(path: &std::path::Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let wanted = path.display().to_string();
    mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .any(|mount| mount == wanted)
}

trait HelpIfNone {
    fn with_help_if_none(self, help: &str) -> Self;
}

impl HelpIfNone for Diagnostic {
    fn with_help_if_none(self, help: &str) -> Self {
        if self.help.is_none() {
            self.with_help(help)
        } else {
            self
        }
    }
}

/// Turns a minijinja error into a diagnostic pointing into the scalar it came from.
pub fn template_error(error: &minijinja::Error, source: &str, span: &Span) -> Diagnostic {
    let mut message = describe(error);
    if error.kind() == minijinja::ErrorKind::UndefinedError {
        if let Some(text) = error.range().and_then(|range| source.get(range)) {
            let text = text
                .trim()
                .trim_start_matches("{{")
                .trim_end_matches("}}")
                .trim();
            if !text.is_empty() && !message.contains(text) {
                message = format!("undefined variable in `{text}`");
            }
        }
    }
    let help = error_help(error);
    let mut diagnostic = Diagnostic::at(message, span);
    if let (Some(line), Some(range)) = (error.line(), error.range()) {
        // Point at the failing part of the expression when it sits on the scalar's line.
        if line == 1 && span.is_known() {
            let offset = source[..range.start.min(source.len())].chars().count();
            let length = source
                .get(range.clone())
                .map(|s| s.chars().count())
                .unwrap_or(1);
            let file_line = span
                .file
                .as_ref()
                .and_then(|f| f.line(span.line))
                .unwrap_or_default();
            // Only shift when the scalar appears unquoted on that line as written.
            if file_line
                .get(span.column.saturating_sub(1)..)
                .is_some_and(|rest| rest.starts_with(source.lines().next().unwrap_or_default()))
            {
                diagnostic.span = Some(span.shifted(0, offset, length.max(1)));
            }
        }
    }
    match help {
        Some(help) => diagnostic.with_help(help),
        None => diagnostic,
    }
}

fn template_error_in_file(error: &minijinja::Error, file_span: &Span) -> Diagnostic {
    let mut diagnostic = Diagnostic::new(describe(error));
    if let Some(line) = error.line() {
        let mut span = file_span.clone();
        span.line = line;
        span.column = 1;
        if let (Some(range), Some(file)) = (error.range(), &span.file) {
            let before = &file.text[..range.start.min(file.text.len())];
            let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
            span.column = before[line_start..].chars().count() + 1;
            span.length = file.text.get(range).map(|s| s.chars().count()).unwrap_or(1);
        }
        diagnostic.span = Some(span);
    }
    match error_help(error) {
        Some(help) => diagnostic.with_help(help),
        None => diagnostic,
    }
}

fn describe(error: &minijinja::Error) -> String {
    use minijinja::ErrorKind;
    let detail = error.detail().unwrap_or_default();
    match error.kind() {
        ErrorKind::UndefinedError => {
            if detail.is_empty() {
                "undefined variable in template".to_string()
            } else {
                format!("undefined variable: {detail}")
            }
        }
        ErrorKind::UnknownFilter => format!("unknown filter: {detail}"),
        ErrorKind::UnknownTest => format!("unknown test: {detail}"),
        ErrorKind::UnknownFunction => format!("unknown function: {detail}"),
        ErrorKind::SyntaxError => format!("template syntax error: {detail}"),
        ErrorKind::OutOfFuel => "template ran too long (possible endless loop)".to_string(),
        _ => {
            let text = error.to_string();
            let text = text.split(" (in ").next().unwrap_or(&text);
            format!("template error: {}", text.trim())
        }
    }
}

fn error_help(error: &minijinja::Error) -> Option<String> {
    use minijinja::ErrorKind;
    match error.kind() {
        ErrorKind::UndefinedError => Some(
            "define it (vars, group_vars, -e) or give a fallback: `{{ x | default('') }}`"
                .to_string(),
        ),
        _ => None,
    }
}

/// A template name (`roles/x/templates/a.j2`) as Arc'd text, so errors can draw carets.
pub fn source_name(path: &std::path::Path) -> Arc<str> {
    Arc::from(crate::source::display_path(path).as_str())
}

#[cfg(test)]
mod lone_expression_tests {
    use super::lone_expression;

    #[test]
    fn one_expression_keeps_its_type_whatever_its_braces() {
        assert_eq!(lone_expression("{{ x }}"), Some("x"));
        assert_eq!(lone_expression("{{- x -}}"), Some("x"));
        assert_eq!(
            lone_expression("{{ {'a': {'b': 1}} }}"),
            Some("{'a': {'b': 1}}")
        );
        assert_eq!(
            lone_expression("{{ [{'k': '}}'}] | first }}"),
            Some("[{'k': '}}'}] | first")
        );
        assert_eq!(lone_expression("{{ 'a \\' }}' }}"), Some("'a \\' }}'"));
    }

    #[test]
    fn two_expressions_or_other_tags_are_text() {
        assert_eq!(lone_expression("{{ a }} and {{ b }}"), None);
        assert_eq!(lone_expression("{{ a }}{{ b }}"), None);
        assert_eq!(
            lone_expression("{{ a }} {% if b %}c{% endif %} {{ d }}"),
            None
        );
        assert_eq!(lone_expression("{{ a }} {# note #} {{ b }}"), None);
        assert_eq!(lone_expression("x {{ a }}"), None);
    }
}
