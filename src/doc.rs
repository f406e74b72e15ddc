//! `rplay doc NAME`: a module's documentation, read from its own source: the opening `//!`
//! block, then each field of its arguments struct with its type, its default (or that it
//! is required) and its `///` comment.

/// Everything rplay knows about a module's arguments, from `source` (the module's file);
/// `sources` are every module's files, where enums shared between modules are found.
pub fn module_doc(source: &str, sources: &[&str]) -> String {
    let mut out = String::new();
    for line in source.lines() {
        if let Some(text) = line.strip_prefix("//!") {
            out.push_str(text.strip_prefix(' ').unwrap_or(text));
            out.push('\n');
        }
    }
    out.push_str("\nArguments:\n");
    for field in argument_fields(source) {
        let kind = describe_type(&field.ty, sources);
        let default = describe_default(&field, source, sources);
        out.push_str(&format!(
            "  {:<20} {kind}, {default}.\n  {:<20} {}\n",
            field.name,
            "",
            field.doc.join(" ")
        ));
    }
    out
}

struct Field {
    name: String,
    ty: String,
    doc: Vec<String>,
    /// The `#[serde(...)]` attribute lines before the field, joined.
    serde: String,
}

/// The fields of the first `pub struct …Args` in the source, with what precedes each.
fn argument_fields(source: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut doc = Vec::new();
    let mut serde = String::new();
    let mut in_args = false;
    for line in source.lines() {
        let trimmed = line.trim();
        if !in_args {
            if trimmed.starts_with("pub struct") && trimmed.contains("Args") {
                in_args = true;
            }
            continue;
        }
        if trimmed == "}" {
            break;
        }
        if let Some(text) = trimmed.strip_prefix("///") {
            doc.push(text.trim().to_string());
        } else if trimmed.starts_with("#[serde(") {
            serde.push_str(trimmed);
        } else if let Some(field) = trimmed.strip_prefix("pub ") {
            let (name, ty) = field.split_once(':').unwrap_or((field, ""));
            let skipped = serde.contains("skip");
            if !skipped {
                fields.push(Field {
                    name: name.trim().to_string(),
                    ty: ty.trim().trim_end_matches(',').to_string(),
                    doc: std::mem::take(&mut doc),
                    serde: std::mem::take(&mut serde),
                });
            }
            doc.clear();
            serde.clear();
        }
    }
    fields
}

/// A field's Rust type in the words of a playbook author.
fn describe_type(ty: &str, sources: &[&str]) -> String {
    let ty = ty.trim();
    if let Some(inner) = generic(ty, "Option") {
        return describe_type(inner, sources);
    }
    if let Some(inner) = generic(ty, "Vec") {
        return format!("list of {}", plural(&describe_type(inner, sources)));
    }
    if ty.contains("Map<") || ty == "Value" || ty.ends_with("::Value") {
        return if ty.contains("Map<") {
            "mapping"
        } else {
            "any"
        }
        .to_string();
    }
    match ty {
        "Mode" | "file_mode::Mode" => {
            "mode (octal like \"0644\", or symbolic like u+rwx)".to_string()
        }
        "String" | "PathBuf" => "string".to_string(),
        "bool" => "boolean".to_string(),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64" => "integer".to_string(),
        "f32" | "f64" => "number".to_string(),
        other => match enum_variants(other, sources) {
            // An enum the module reads through its own function: the words are the
            // argument's, given in its description.
            Some(variants) if variants.is_empty() => "string".to_string(),
            Some(variants) => format!("one of {}", variants.join(", ")),
            None => other.to_string(),
        },
    }
}

fn plural(word: &str) -> String {
    match word {
        "string" | "boolean" | "integer" | "number" | "mapping" => format!("{word}s"),
        other => other.to_string(),
    }
}

/// `T` of `Name<T>`.
fn generic<'a>(ty: &'a str, name: &str) -> Option<&'a str> {
    ty.strip_prefix(name)?.strip_prefix('<')?.strip_suffix('>')
}

/// The spellings of a unit-variant enum's values, as its serde attributes make them; none
/// when the enum is not deserialised itself (the module reads it through a function).
fn enum_variants(name: &str, sources: &[&str]) -> Option<Vec<String>> {
    let header = format!("pub enum {name} {{");
    for source in sources {
        let Some(start) = source.find(&header) else {
            continue;
        };
        let before = &source[..start];
        let attributes = before.rsplit("\n\n").next().unwrap_or_default();
        let rename = if attributes.contains("rename_all = \"lowercase\"") {
            Rename::Lower
        } else if attributes.contains("rename_all = \"kebab-case\"") {
            Rename::Kebab
        } else if attributes.contains("rename_all = \"snake_case\"") {
            Rename::Snake
        } else {
            Rename::None
        };
        if !attributes.contains("Deserialize") {
            return Some(Vec::new());
        }
        let body = &source[start + header.len()..];
        let body = &body[..body.find("\n}").unwrap_or(body.len())];
        let mut variants = Vec::new();
        let mut explicit: Option<String> = None;
        for line in body.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("#[serde(rename = \"") {
                explicit = rest.split('"').next().map(str::to_string);
                continue;
            }
            if line.starts_with("//") || line.starts_with("#[") || line.is_empty() {
                continue;
            }
            let word = line.trim_end_matches(',');
            if !word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                // Not a unit variant: the enum takes more than a word.
                return None;
            }
            variants.push(explicit.take().unwrap_or_else(|| rename.apply(word)));
        }
        return (!variants.is_empty()).then_some(variants);
    }
    None
}

enum Rename {
    None,
    Lower,
    Kebab,
    Snake,
}

impl Rename {
    fn apply(&self, word: &str) -> String {
        let separated = |separator: char| {
            let mut out = String::new();
            for (index, c) in word.chars().enumerate() {
                if c.is_ascii_uppercase() && index > 0 {
                    out.push(separator);
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        };
        match self {
            Rename::None => word.to_string(),
            Rename::Lower => word.to_lowercase(),
            Rename::Kebab => separated('-'),
            Rename::Snake => separated('_'),
        }
    }
}

/// "required", "default X" or "optional".
fn describe_default(field: &Field, source: &str, sources: &[&str]) -> String {
    let optional = generic(&field.ty, "Option").is_some();
    if let Some(function) = field
        .serde
        .split("default = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    {
        return match function_value(source, function) {
            Some(value) => format!("default {value}"),
            None => "has a default".to_string(),
        };
    }
    let defaulted = field.serde.split(['(', ',', ' ']).any(|w| w == "default")
        || field.serde.contains("default)")
        || field.serde.contains("default,");
    if !defaulted {
        return if optional { "optional" } else { "required" }.to_string();
    }
    if optional {
        return "optional".to_string();
    }
    let ty = field.ty.trim();
    match ty {
        "bool" => "default false".to_string(),
        "String" => "default \"\"".to_string(),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64" => "default 0".to_string(),
        _ if generic(ty, "Vec").is_some() => "default []".to_string(),
        _ => match default_variant(ty, sources) {
            Some(variant) => format!("default {variant}"),
            None => "optional".to_string(),
        },
    }
}

/// The value a `fn NAME() -> T { value }` returns, when it is one simple expression.
fn function_value(source: &str, function: &str) -> Option<String> {
    let start = source.find(&format!("fn {function}()"))?;
    let body = &source[start..];
    let open = body.find('{')?;
    let close = body.find("\n}")?;
    let expression = body[open + 1..close].trim();
    if expression.lines().count() != 1 {
        return None;
    }
    let expression = expression
        .trim_end_matches(".to_string()")
        .trim_end_matches(".into()")
        .trim_end_matches(".to_owned()");
    let expression = expression
        .strip_prefix("Some(")
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or(expression);
    let expression = expression
        .strip_prefix("String::from(")
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or(expression);
    Some(expression.to_string())
}

/// The `#[default]` variant of an enum, spelled as its serde attributes spell it.
fn default_variant(name: &str, sources: &[&str]) -> Option<String> {
    let header = format!("pub enum {name} {{");
    let source = sources.iter().find(|s| s.contains(&header))?;
    let body = &source[source.find(&header)? + header.len()..];
    let body = &body[..body.find("\n}").unwrap_or(body.len())];
    let mut lines = body.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == "#[default]" {
            let variant = lines.find(|l| !l.starts_with("#[") && !l.starts_with("//"))?;
            let variant = variant.trim_end_matches(',');
            let spelled = enum_variants(name, sources)?;
            let plain: Vec<&str> = body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("#[") && !l.starts_with("//"))
                .map(|l| l.trim_end_matches(','))
                .collect();
            let index = plain.iter().position(|v| *v == variant)?;
            return spelled.get(index).cloned();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"//! `demo`: shows things.

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    #[default]
    Present,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoArgs {
    /// What to show.
    pub name: String,
    /// Whether it is there.
    #[serde(default)]
    pub state: Presence,
    /// Where.
    #[serde(default = "default_path")]
    pub path: String,
    /// Extra words.
    #[serde(default)]
    pub words: Vec<String>,
    /// How long.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Force it.
    #[serde(default, deserialize_with = "ansible_bool::deserialize")]
    pub force: bool,
}

fn default_path() -> String {
    "/etc/demo.conf".to_string()
}
"#;

    #[test]
    fn arguments_come_with_their_types_and_defaults() {
        let doc = module_doc(SOURCE, &[SOURCE]);
        let arguments: Vec<&str> = doc
            .lines()
            .skip_while(|l| *l != "Arguments:")
            .skip(1)
            .step_by(2)
            .map(str::trim)
            .collect();
        assert_eq!(
            arguments,
            [
                "name                 string, required.",
                "state                one of present, absent, default present.",
                "path                 string, default \"/etc/demo.conf\".",
                "words                list of strings, default [].",
                "timeout              integer, optional.",
                "force                boolean, default false.",
            ]
        );
        assert!(doc.starts_with("`demo`: shows things.\n"));
        assert!(doc.contains("  What to show.\n"), "{doc}");
    }
}
