//! The SQLite and PostgreSQL migration folders say the same thing: same
//! files, same statements, apart from lines that can only be written in one
//! dialect (listed here, so adding one is a decision someone reads).

use std::collections::BTreeMap;
use std::path::Path;

/// Lines that only one engine's migrations may contain.
const DIALECT_ONLY: &[&str] = &[
    // SQLite: triggers raise inside their own BEGIN ... END.
    "CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers",
    "CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers",
    "SELECT RAISE(ABORT, 'transfers are immutable');",
    "BEGIN",
    "END;",
    // PostgreSQL: triggers call a PL/pgSQL function.
    "CREATE FUNCTION transfers_immutable() RETURNS trigger AS $$",
    "RAISE EXCEPTION 'transfers are immutable';",
    "$$ LANGUAGE plpgsql;",
    "CREATE TRIGGER transfers_no_update BEFORE UPDATE OR DELETE ON transfers",
    "FOR EACH ROW EXECUTE FUNCTION transfers_immutable();",
    // Ordered sequence numbers (live events, messages).
    "seq INTEGER PRIMARY KEY AUTOINCREMENT,",
    "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,",
];

fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("migrations folder")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).expect("readable"))
        })
        .collect()
}

/// Each trimmed, non-empty line with how many more times it appears in `a`
/// than in `b`.
fn surplus<'a>(a: &'a str, b: &'a str) -> Vec<&'a str> {
    let mut count: BTreeMap<&str, i64> = BTreeMap::new();
    for l in a.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *count.entry(l).or_default() += 1;
    }
    for l in b.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *count.entry(l).or_default() -= 1;
    }
    count
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(l, _)| l)
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_stay_in_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sqlite = files(&root.join("sqlite"));
    let postgres = files(&root.join("postgres"));
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "both folders hold the same migration files"
    );
    for (name, lite) in &sqlite {
        let pg = &postgres[name];
        for (only, engine) in [
            (surplus(lite, pg), "SQLite"),
            (surplus(pg, lite), "PostgreSQL"),
        ] {
            let unexpected: Vec<&&str> =
                only.iter().filter(|l| !DIALECT_ONLY.contains(l)).collect();
            assert!(
                unexpected.is_empty(),
                "{name}: lines only in the {engine} version, not known dialect lines: {unexpected:?}"
            );
        }
    }
}

#[test]
fn a_line_in_one_folder_only_is_caught() {
    let lite = "CREATE TABLE t (id TEXT);\nCREATE INDEX t_idx ON t (id);\n";
    let pg = "CREATE TABLE t (id TEXT);\n";
    assert_eq!(surplus(lite, pg), vec!["CREATE INDEX t_idx ON t (id);"]);
    assert!(surplus(pg, lite).is_empty());
}
