//! The variables a template sees, resolved lazily.
//!
//! A [`Scope`] is a stack of variable maps, lowest precedence first (role defaults at the
//! bottom, extra vars on top). Looking a name up walks the stack from the top; a value
//! that is a template is rendered then, with this same scope, and cached for the life of
//! the scope (one task on one host). Building a scope copies only pointers, so the cost
//! of a task does not grow with the size of the inventory.

use super::Templar;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One layer of variables.
pub type VarMap = IndexMap<String, Value>;

/// Gives the scope of another host, for `hostvars`.
pub trait HostVarsSource: Send + Sync {
    /// Every host of the inventory, in order.
    fn host_names(&self) -> Vec<String>;
    /// The variable layers of `host` as a play sees them (no task-level vars).
    fn host_layers(&self, host: &str) -> Option<Vec<Arc<VarMap>>>;
}

#[derive(Clone)]
pub struct Scope {
    inner: Arc<ScopeInner>,
}

struct ScopeInner {
    layers: Vec<Arc<VarMap>>,
    templar: Arc<Templar>,
    hostvars: Option<Arc<dyn HostVarsSource>>,
    cache: Mutex<HashMap<String, Value>>,
    resolving: Mutex<Vec<String>>,
    error: Mutex<Option<Diagnostic>>,
}

impl std::fmt::Debug for ScopeInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<variables>")
    }
}

impl Scope {
    pub fn new(
        layers: Vec<Arc<VarMap>>,
        templar: Arc<Templar>,
        hostvars: Option<Arc<dyn HostVarsSource>>,
    ) -> Scope {
        Scope {
            inner: Arc::new(ScopeInner {
                layers,
                templar,
                hostvars,
                cache: Mutex::new(HashMap::new()),
                resolving: Mutex::new(Vec::new()),
                error: Mutex::new(None),
            }),
        }
    }

    /// The same variables with one more layer on top (loop items, task vars).
    pub fn with_layer(&self, layer: VarMap) -> Scope {
        let mut layers = self.inner.layers.clone();
        layers.push(Arc::new(layer));
        Scope::new(
            layers,
            self.inner.templar.clone(),
            self.inner.hostvars.clone(),
        )
    }

    pub fn layers(&self) -> &[Arc<VarMap>] {
        &self.inner.layers
    }

    pub fn templar(&self) -> &Arc<Templar> {
        &self.inner.templar
    }

    /// The scope as a template context.
    pub fn as_value(&self) -> Value {
        self.clear_error_if_top();
        Value::from_dyn_object(self.inner.clone())
    }

    /// A variable, rendered; `None` when undefined. Errors while rendering it are
    /// returned.
    pub fn get(&self, name: &str) -> Result<Option<Value>, Diagnostic> {
        self.clear_error_if_top();
        match self.inner.resolve(name) {
            Some(value) => Ok(Some(value)),
            None => match self.take_error() {
                Some(error) => Err(error),
                None => Ok(None),
            },
        }
    }

    /// A variable as written, not rendered.
    pub fn raw(&self, name: &str) -> Option<Value> {
        self.inner.raw(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.inner.raw(name).is_some()
    }

    /// The error of the last failed lookup inside a render, which says more than
    /// minijinja's "undefined" for the outer template.
    pub fn take_error(&self) -> Option<Diagnostic> {
        self.inner.error.lock().ok()?.take()
    }

    fn clear_error_if_top(&self) {
        let at_top = self
            .inner
            .resolving
            .lock()
            .map(|stack| stack.is_empty())
            .unwrap_or(true);
        if at_top {
            if let Ok(mut error) = self.inner.error.lock() {
                *error = None;
            }
        }
    }

    /// Every variable name visible, for `vars` and `--list` style dumps.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for layer in &self.inner.layers {
            for key in layer.keys() {
                if !names.contains(key) {
                    names.push(key.clone());
                }
            }
        }
        names
    }
}

impl ScopeInner {
    fn raw(&self, name: &str) -> Option<Value> {
        self.layers
            .iter()
            .rev()
            .find_map(|layer| layer.get(name).cloned())
    }

    fn record_error(&self, error: Diagnostic) {
        if let Ok(mut slot) = self.error.lock() {
            if slot.is_none() {
                *slot = Some(error);
            }
        }
    }

    fn resolve(self: &Arc<Self>, name: &str) -> Option<Value> {
        if let Some(value) = self.cache.lock().ok()?.get(name) {
            return Some(value.clone());
        }
        let raw = match name {
            "hostvars" if self.raw(name).is_none() => {
                return self.hostvars.as_ref().map(|source| {
                    Value::from_object(HostVars {
                        source: source.clone(),
                        templar: self.templar.clone(),
                    })
                })
            }
            "vars" if self.raw(name).is_none() => {
                return Some(Value::from_object(VarsView {
                    scope: self.clone(),
                }))
            }
            _ => self.raw(name)?,
        };
        if !needs_render(&raw) {
            return Some(raw);
        }
        {
            let mut stack = self.resolving.lock().ok()?;
            if let Some(start) = stack.iter().position(|n| n == name) {
                let mut chain: Vec<String> = stack[start..].to_vec();
                chain.push(name.to_string());
                drop(stack);
                self.record_error(
                    Diagnostic::new(format!(
                        "variable `{name}` refers to itself: {}",
                        chain.join(" -> ")
                    ))
                    .with_help(
                        "a variable cannot be defined in terms of itself; rename one of them",
                    ),
                );
                return None;
            }
            stack.push(name.to_string());
        }
        let scope = Scope {
            inner: self.clone(),
        };
        let rendered = self.templar.render_deep(&raw, &scope, &Span::none());
        if let Ok(mut stack) = self.resolving.lock() {
            stack.pop();
        }
        match rendered {
            Ok(value) => {
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(name.to_string(), value.clone());
                }
                Some(value)
            }
            Err(mut error) => {
                if !error.message.contains("(in the value of") {
                    error.message = format!("{} (in the value of `{name}`)", error.message);
                }
                self.record_error(error);
                None
            }
        }
    }
}

/// Whether a raw value holds a template anywhere inside.
fn needs_render(value: &Value) -> bool {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::String => {
            !value.is_safe() && super::is_template(value.as_str().unwrap_or_default())
        }
        ValueKind::Seq => value
            .try_iter()
            .map(|mut items| items.any(|item| needs_render(&item)))
            .unwrap_or(false),
        ValueKind::Map => value
            .try_iter()
            .map(|mut keys| {
                keys.any(|key| {
                    needs_render(&key) || needs_render(&value.get_item(&key).unwrap_or_default())
                })
            })
            .unwrap_or(false),
        _ => false,
    }
}

impl Object for ScopeInner {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.resolve(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let scope = Scope {
            inner: self.clone(),
        };
        Enumerator::Values(scope.names().into_iter().map(Value::from).collect())
    }
}

/// `vars`: every variable of the current scope, as a mapping.
#[derive(Debug)]
struct VarsView {
    scope: Arc<ScopeInner>,
}

impl Object for VarsView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.scope.resolve(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let scope = Scope {
            inner: self.scope.clone(),
        };
        Enumerator::Values(scope.names().into_iter().map(Value::from).collect())
    }
}

/// `hostvars`: every host's variables, each resolved lazily in that host's own scope.
struct HostVars {
    source: Arc<dyn HostVarsSource>,
    templar: Arc<Templar>,
}

impl std::fmt::Debug for HostVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<hostvars>")
    }
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let layers = self.source.host_layers(key.as_str()?)?;
        let scope = Scope::new(layers, self.templar.clone(), Some(self.source.clone()));
        Some(Value::from_dyn_object(scope.inner))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.source
                .host_names()
                .into_iter()
                .map(Value::from)
                .collect(),
        )
    }
}
