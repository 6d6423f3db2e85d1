//! The rules the derive cannot state, written on the document's JSON: single
//! fields (patterns, formats), free text without control characters, paging
//! parameters, and rules across the fields of one request body.

use utoipa::openapi::OpenApi;

use super::finish;

/// The document as served: [`finish`]ed, then the rules that are simplest
/// to state on its JSON.
pub fn document(api: OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(finish(api)).unwrap_or_default();
    field_rules(&mut doc);
    text_without_control_characters(&mut doc);
    rules_across_fields(&mut doc);
    doc
}

/// The deposit `method`s of the deployment that serves the document, as an
/// enumeration: which are accepted depends on the providers it enabled, so
/// only the served document can list them (the one `paiecashfan openapi`
/// prints describes no deployment and keeps a plain string).
pub fn deposit_methods(doc: &mut serde_json::Value, methods: &[String]) {
    let schema = &mut doc["components"]["schemas"]["DepositRequest"]["properties"]["method"];
    if schema.is_object() && !methods.is_empty() {
        schema["enum"] = serde_json::json!(methods);
    }
}

/// Rules that tie fields of one request body together, as the server's
/// `Validate` checks them, stated with `anyOf`/`oneOf` so a generator (and
/// a reader) knows them: a recipient by id or by e-mail, not both; a match's away
/// side as a club or a team name; a direct conversation with exactly one
/// other fan and no name, a group with 1 to 99 and a name.
fn rules_across_fields(doc: &mut serde_json::Value) {
    use serde_json::json;
    // `anyOf`: one or both; `oneOf`: exactly one (with both, both branches
    // hold and oneOf fails).
    let pair = |rule: &str, a: &str, b: &str| {
        json!({rule: [
            {"required": [a], "properties": {a: {"type": "string"}}},
            {"required": [b], "properties": {b: {"type": "string"}}},
        ]})
    };
    let member = json!({"type": "string", "minLength": 1, "maxLength": 64});
    let group_max = crate::social::model::GROUP_MAX - 1;
    let rules = [
        (
            "SendRequest",
            pair("oneOf", "recipientId", "recipientEmail"),
        ),
        (
            "TransferRequest",
            pair("oneOf", "recipientId", "recipientEmail"),
        ),
        ("NewEvent", pair("anyOf", "awayClub", "awayTeam")),
        (
            "NewConversation",
            json!({"oneOf": [
                {"properties": {
                    "type": {"const": "direct"},
                    "participantIds": {"minItems": 1, "maxItems": 1, "items": member},
                    "name": {"type": "null"},
                }},
                {"required": ["name"], "properties": {
                    "type": {"const": "group"},
                    "participantIds": {"minItems": 1, "maxItems": group_max, "items": member},
                    "name": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": NON_BLANK_TEXT_PATTERN},
                }},
            ]}),
        ),
    ];
    for (name, rule) in rules {
        let schema = &mut doc["components"]["schemas"][name];
        if schema.is_object() {
            schema["allOf"] = json!([rule]);
        }
    }
    // Single fields whose type the derive writes as a plain string or list.
    let mut currencies: Vec<serde_json::Value> = crate::wallet::money::Currency::ALL
        .iter()
        .map(|c| json!(c.code()))
        .collect();
    currencies.push(serde_json::Value::Null);
    let fields = [
        ("NewPlan", "currency", json!({"enum": currencies})),
        ("DepositRequest", "currency", json!({"enum": currencies})),
        ("SendRequest", "currency", json!({"enum": currencies})),
        (
            "NewPlan",
            "features",
            json!({"items": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": TEXT_PATTERN}}),
        ),
    ];
    for (name, property, rule) in fields {
        let target = &mut doc["components"]["schemas"][name]["properties"][property];
        if let (Some(target), Some(rule)) = (target.as_object_mut(), rule.as_object()) {
            for (k, v) in rule {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Text that must hold more than white space (the server trims it), with no
/// control character either.
pub const NON_BLANK_TEXT_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$";

/// An http(s) address the server's URL parser takes: a host name whose last
/// label starts with a letter (an all-digit host is an IPv4 address, which
/// the parser checks further), an optional port, printable ASCII after it.
pub const WEB_ADDRESS_PATTERN: &str = "^https?://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(:[0-9]{1,4})?(/[!-~]*)?$";

/// Rules of single request fields that the derive cannot state: (schema,
/// property, what its value must match; `date-time` for an RFC 3339 time).
const FIELD_RULES: &[(&str, &str, &str)] = &[
    ("NewMessage", "message", NON_BLANK_TEXT_PATTERN),
    ("EditMessage", "message", NON_BLANK_TEXT_PATTERN),
    ("NewPost", "content", NON_BLANK_TEXT_PATTERN),
    ("NewComment", "content", NON_BLANK_TEXT_PATTERN),
    ("NewPost", "imageUrl", WEB_ADDRESS_PATTERN),
    ("NewPlan", "countries[]", "^[A-Z]{2}$"),
    ("NewEvent", "kickoff", "date-time"),
    ("NewEvent", "saleStartsAt", "date-time"),
    ("NewEvent", "saleEndsAt", "date-time"),
    ("UpdateEvent", "kickoff", "date-time"),
    ("UpdateEvent", "saleStartsAt", "date-time"),
    ("UpdateEvent", "saleEndsAt", "date-time"),
];

fn field_rules(doc: &mut serde_json::Value) {
    for (schema, property, rule) in FIELD_RULES {
        let (name, items) = match property.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (*property, false),
        };
        let mut target = &mut doc["components"]["schemas"][schema]["properties"][name];
        if items {
            target = &mut target["items"];
        }
        if target.is_object() {
            let key = if *rule == "date-time" {
                "format"
            } else {
                "pattern"
            };
            target[key] = serde_json::Value::from(*rule);
        }
    }
}

/// No string a client sends may hold a control character (a tab and a line
/// feed aside): the document says so on every free-text string of request
/// bodies (and of what they contain) and of query parameters, in one rule
/// rather than field by field.
pub const TEXT_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$";

fn text_without_control_characters(doc: &mut serde_json::Value) {
    use serde_json::Value;
    fn is_free_text(schema: &Value) -> bool {
        let t = &schema["type"];
        let string = t == "string"
            || t.as_array()
                .is_some_and(|a| a.iter().any(|x| x == "string"));
        string
            && schema.get("pattern").is_none()
            && schema.get("format").is_none()
            && schema.get("enum").is_none()
    }
    fn mark(schema: &mut Value) {
        if is_free_text(schema) {
            schema["pattern"] = Value::from(TEXT_PATTERN);
        }
        if let Some(items) = schema.get_mut("items") {
            mark(items);
        }
    }
    // Every list pages alike (`Checks::page`): the rule is stated once here.
    fn paging(p: &mut Value) {
        let (min, max) = match p["name"].as_str() {
            Some("limit") => (1, 100),
            Some("offset") => (0, 1_000_000),
            Some("page") => (1, 10_000),
            Some("cursor") => {
                p["schema"]["pattern"] = Value::from(crate::http::validate::CURSOR_PATTERN);
                return;
            }
            _ => return,
        };
        let schema = &mut p["schema"];
        if schema.get("minimum").is_none() {
            schema["minimum"] = Value::from(min);
        }
        if schema.get("maximum").is_none() {
            schema["maximum"] = Value::from(max);
        }
    }
    // The component schemas request bodies use, and those they contain.
    let mut wanted: Vec<String> = Vec::new();
    let refs = |v: &Value, out: &mut Vec<String>| {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref")
                        && let Some(name) = r.strip_prefix("#/components/schemas/")
                    {
                        out.push(name.to_owned());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(v, out)
    };
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                refs(&op["requestBody"], &mut wanted);
                if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                    for p in params {
                        if p["in"] == "query" {
                            paging(p);
                            mark(&mut p["schema"]);
                        }
                    }
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    while let Some(name) = wanted.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let schema = &mut doc["components"]["schemas"][&name];
        refs(schema, &mut wanted);
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            props.values_mut().for_each(mark);
        }
    }
}
