//! The subset of Go's `text/template` that `--format` needs, evaluated over JSON values:
//! text, `{{.A.B}}`, `{{json .A}}`, `{{index .A "k"}}`, `{{join .A ","}}`, `{{upper .A}}`,
//! `{{lower .A}}`, `{{println .A}}`, and the `{{-`/`-}}` whitespace trims.

use serde_json::Value;

/// A template that failed to parse, worded like docker's.
#[derive(Debug, thiserror::Error)]
#[error("template parsing error: template: :1: {0}")]
pub struct ParseError(String);

#[derive(Debug, Clone, PartialEq)]
enum Func {
    Json,
    Index,
    Join,
    Upper,
    Lower,
    Println,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Field(Vec<String>),
    Str(String),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action(Expr),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let mut literal = &rest[..open];
            let mut inner = &rest[open + 2..];
            let close = inner
                .find("}}")
                .ok_or_else(|| ParseError("unclosed action".into()))?;
            let mut action = &inner[..close];
            inner = &inner[close + 2..];
            if let Some(a) = action.strip_prefix("- ") {
                literal = literal.trim_end();
                action = a;
            }
            if let Some(a) = action.strip_suffix(" -") {
                inner = inner.trim_start();
                action = a;
            }
            if !literal.is_empty() {
                parts.push(Part::Text(literal.to_string()));
            }
            parts.push(Part::Action(parse_action(action)?));
            rest = inner;
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// Runs the template over `data`.
    pub fn render(&self, data: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action(e) => out.push_str(&display(&eval(e, data))),
            }
        }
        out
    }
}

fn tokenize(action: &str) -> Result<Vec<String>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => s.push(chars.next().unwrap_or('\\')),
                    Some(c) => s.push(c),
                    None => return Err(ParseError("unterminated quoted string".into())),
                }
            }
            tokens.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace()) {
                s.push(c);
                chars.next();
            }
            tokens.push(s);
        }
    }
    Ok(tokens)
}

fn parse_operand(token: &str) -> Result<Expr, ParseError> {
    if let Some(s) = token.strip_prefix('"') {
        return Ok(Expr::Str(s.to_string()));
    }
    if token == "." {
        return Ok(Expr::Field(Vec::new()));
    }
    match token.strip_prefix('.') {
        Some(path) => Ok(Expr::Field(path.split('.').map(str::to_string).collect())),
        None => Err(ParseError(format!("function {token:?} not defined"))),
    }
}

fn parse_action(action: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(action)?;
    let Some(first) = tokens.first() else {
        return Err(ParseError("missing value for command".into()));
    };
    let func = match first.as_str() {
        "json" => Func::Json,
        "index" => Func::Index,
        "join" => Func::Join,
        "upper" => Func::Upper,
        "lower" => Func::Lower,
        "println" => Func::Println,
        _ if tokens.len() == 1 => return parse_operand(first),
        _ => return Err(ParseError(format!("unexpected {:?} in operand", tokens[1]))),
    };
    let args = tokens[1..]
        .iter()
        .map(|t| parse_operand(t))
        .collect::<Result<Vec<_>, _>>()?;
    let arity_ok = match func {
        Func::Json | Func::Upper | Func::Lower => args.len() == 1,
        Func::Join => args.len() == 2,
        Func::Index => !args.is_empty(),
        Func::Println => true,
    };
    if !arity_ok {
        return Err(ParseError(format!("wrong number of args for {first}")));
    }
    Ok(Expr::Call(func, args))
}

/// `None` stands for Go's "<no value>" (a missing map key).
fn eval(e: &Expr, data: &Value) -> Option<Value> {
    match e {
        Expr::Str(s) => Some(Value::String(s.clone())),
        Expr::Field(path) => path.iter().try_fold(data, |v, k| v.get(k)).cloned(),
        Expr::Call(func, args) => {
            let vals: Vec<Option<Value>> = args.iter().map(|a| eval(a, data)).collect();
            call(func, vals)
        }
    }
}

fn call(func: &Func, mut vals: Vec<Option<Value>>) -> Option<Value> {
    let text = |v: &Option<Value>| display(v);
    match func {
        Func::Json => {
            let v = vals.remove(0).unwrap_or(Value::Null);
            Some(Value::String(
                serde_json::to_string(&v).expect("a JSON value always serialises"),
            ))
        }
        Func::Index => {
            let mut cur = vals.remove(0)?;
            for key in vals {
                cur = match (&cur, key?) {
                    (Value::Array(a), Value::Number(n)) => a.get(n.as_u64()? as usize)?.clone(),
                    (Value::Object(m), Value::String(k)) => m.get(&k)?.clone(),
                    _ => return None,
                };
            }
            Some(cur)
        }
        Func::Join => {
            let sep = text(&vals[1]);
            let items = match &vals[0] {
                Some(Value::Array(a)) => a.iter().map(|v| display(&Some(v.clone()))).collect(),
                other => vec![text(other)],
            };
            Some(Value::String(items.join(&sep)))
        }
        Func::Upper => Some(Value::String(text(&vals[0]).to_uppercase())),
        Func::Lower => Some(Value::String(text(&vals[0]).to_lowercase())),
        Func::Println => {
            let items: Vec<String> = vals.iter().map(text).collect();
            Some(Value::String(items.join(" ") + "\n"))
        }
    }
}

/// Go's `%v` of a decoded value: strings bare, `[a b]` for lists, `map[k:v]` for objects.
fn display(v: &Option<Value>) -> String {
    match v {
        None => "<no value>".into(),
        Some(Value::Null) => "<nil>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(a)) => {
            let items: Vec<String> = a.iter().map(|v| display(&Some(v.clone()))).collect();
            format!("[{}]", items.join(" "))
        }
        Some(Value::Object(m)) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", display(&Some(v.clone()))))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).expect("valid template").render(v)
    }

    #[test]
    fn fields_and_json() {
        let v = json!({"Id": "abc", "State": {"Status": "running", "OOMKilled": false, "Pid": 42},
            "Config": {"Cmd": ["echo", "hi"], "Labels": {"a": "b"}, "Env": null}});
        assert_eq!(render("{{.State.Status}}", &v), "running");
        assert_eq!(render("{{.State.OOMKilled}}", &v), "false");
        assert_eq!(
            render("id={{ .Id }} pid={{.State.Pid}}", &v),
            "id=abc pid=42"
        );
        assert_eq!(render("{{json .Config.Cmd}}", &v), r#"["echo","hi"]"#);
        assert_eq!(render("{{.Config.Cmd}}", &v), "[echo hi]");
        assert_eq!(render("{{.Config.Labels}}", &v), "map[a:b]");
        assert_eq!(render("{{.Config.Env}}", &v), "<nil>");
        assert_eq!(render("{{.Nope.X}}", &v), "<no value>");
        assert_eq!(render("{{index .Config.Labels \"a\"}}", &v), "b");
        assert_eq!(render("{{join .Config.Cmd \",\"}}", &v), "echo,hi");
        assert_eq!(render("{{upper .State.Status}}", &v), "RUNNING");
        assert_eq!(render("{{json .}}", &json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn trims_whitespace() {
        let v = json!({"A": "x"});
        assert_eq!(render("a  {{- .A -}}  b", &v), "axb");
    }

    #[test]
    fn rejects_unknown_functions() {
        let e = Template::parse("{{foo .A}}").expect_err("foo is not a function");
        assert!(e.to_string().starts_with("template parsing error:"));
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{}}").is_err());
    }
}
