//! The raw limit of each read the reads benchmark measures: the same SQL the service runs for the
//! page (the rows of the page plus one, the tallies, the history batch), read and serialised to
//! JSON or CSV in-process, with no HTTP, no ORM and no templates — rusqlite on SQLite, sqlx alone
//! on PostgreSQL.

use sea_orm::sqlx::{self, Column, Row, TypeInfo};

/// A connection for the raw reads.
pub enum Raw {
    Sqlite(rusqlite::Connection),
    Postgres(sqlx::PgPool),
}

/// The reads, by what the service shows.
#[derive(Clone, Copy)]
pub enum Read<'a> {
    /// The first 50 procedures by id.
    ListFirst,
    /// The 50 after this id.
    ListAfter(&'a str),
    /// One procedure, its history and its timers.
    One(&'a str),
    /// The counts (tallies) and the first 50 procedures.
    Dashboard,
    /// The verification tallies, oldest/newest verification, and the first 100 history rows.
    Audit,
}

const PROCEDURE: &str = "SELECT * FROM procedures";

impl Raw {
    pub async fn open(url: &str) -> Raw {
        match url.strip_prefix("sqlite://") {
            Some(path) => {
                let path = path.split('?').next().unwrap();
                Raw::Sqlite(rusqlite::Connection::open(path).unwrap())
            }
            None => Raw::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Each statement with its text parameters: the rows as JSON values.
    async fn rows(&self, sql: &str, params: &[&str]) -> Vec<serde_json::Value> {
        match self {
            Raw::Sqlite(c) => {
                let mut statement = c.prepare_cached(sql).unwrap();
                let names: Vec<String> = statement
                    .column_names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                let mut rows = statement
                    .query(rusqlite::params_from_iter(params.iter()))
                    .unwrap();
                let mut out = Vec::new();
                while let Some(row) = rows.next().unwrap() {
                    let mut object = serde_json::Map::new();
                    for (i, name) in names.iter().enumerate() {
                        use rusqlite::types::ValueRef;
                        let value = match row.get_ref(i).unwrap() {
                            ValueRef::Null => serde_json::Value::Null,
                            ValueRef::Integer(n) => n.into(),
                            ValueRef::Real(f) => f.into(),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                String::from_utf8_lossy(t).into_owned().into()
                            }
                        };
                        object.insert(name.clone(), value);
                    }
                    out.push(serde_json::Value::Object(object));
                }
                out
            }
            Raw::Postgres(pool) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
                for p in params {
                    query = query.bind(p.to_string());
                }
                query
                    .fetch_all(pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| {
                        let mut object = serde_json::Map::new();
                        for column in row.columns() {
                            let i = column.ordinal();
                            let value = match column.type_info().name() {
                                "INT8" => row
                                    .try_get::<Option<i64>, _>(i)
                                    .unwrap()
                                    .map_or(serde_json::Value::Null, Into::into),
                                "INT4" => row
                                    .try_get::<Option<i32>, _>(i)
                                    .unwrap()
                                    .map_or(serde_json::Value::Null, Into::into),
                                "INT2" => row
                                    .try_get::<Option<i16>, _>(i)
                                    .unwrap()
                                    .map_or(serde_json::Value::Null, Into::into),
                                "BOOL" => row
                                    .try_get::<Option<bool>, _>(i)
                                    .unwrap()
                                    .map_or(serde_json::Value::Null, Into::into),
                                "DATE" => row
                                    .try_get::<Option<chrono::NaiveDate>, _>(i)
                                    .unwrap()
                                    .map_or(serde_json::Value::Null, |d| d.to_string().into()),
                                "TIMESTAMPTZ" => row
                                    .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i)
                                    .unwrap()
                                    .map_or(serde_json::Value::Null, |d| d.to_rfc3339().into()),
                                _ => row
                                    .try_get::<Option<String>, _>(i)
                                    .unwrap()
                                    .map_or(serde_json::Value::Null, Into::into),
                            };
                            object.insert(column.name().to_string(), value);
                        }
                        serde_json::Value::Object(object)
                    })
                    .collect()
            }
        }
    }

    /// The positional placeholder `n` (from 1) in this database's dialect.
    fn at(&self, n: usize) -> String {
        match self {
            Raw::Sqlite(_) => format!("?{n}"),
            Raw::Postgres(_) => format!("${n}"),
        }
    }

    /// Read what the service reads for `read` and serialise it: the bytes written.
    pub async fn read(&self, read: Read<'_>) -> usize {
        let mut out = Vec::new();
        match read {
            Read::ListFirst => out.extend(
                self.rows(&format!("{PROCEDURE} ORDER BY id LIMIT 51"), &[])
                    .await,
            ),
            Read::ListAfter(id) => out.extend(
                self.rows(
                    &format!("{PROCEDURE} WHERE id > {} ORDER BY id LIMIT 51", self.at(1)),
                    &[id],
                )
                .await,
            ),
            Read::One(id) => {
                for sql in [
                    format!("{PROCEDURE} WHERE id = {}", self.at(1)),
                    format!(
                        "SELECT * FROM history WHERE procedure_id = {} ORDER BY sequence",
                        self.at(1)
                    ),
                    format!(
                        "SELECT * FROM timers WHERE procedure_id = {} ORDER BY fire_at, id",
                        self.at(1)
                    ),
                ] {
                    out.extend(self.rows(&sql, &[id]).await);
                }
            }
            Read::Dashboard => {
                for sql in [
                    "SELECT status, CAST(SUM(n) AS BIGINT) AS n FROM stage_tallies GROUP BY status"
                        .to_string(),
                    format!(
                        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM due_tallies \
                         WHERE due_on < {}",
                        match self {
                            Raw::Sqlite(_) => self.at(1),
                            Raw::Postgres(_) => format!("CAST({} AS DATE)", self.at(1)),
                        }
                    ),
                    "SELECT workflow_hash, stage, CAST(SUM(n) AS BIGINT) AS n FROM stage_tallies \
                     GROUP BY workflow_hash, stage HAVING SUM(n) > 0 ORDER BY workflow_hash, stage"
                        .to_string(),
                    format!("{PROCEDURE} ORDER BY id LIMIT 51"),
                ] {
                    let today = chrono::Utc::now().date_naive().to_string();
                    let params: &[&str] = if sql.contains("due_on <") {
                        &[&today]
                    } else {
                        &[]
                    };
                    out.extend(self.rows(&sql, params).await);
                }
            }
            Read::Audit => {
                for sql in [
                    "SELECT * FROM verification_tallies WHERE id = 1",
                    "SELECT MIN(verified_at) AS oldest, MAX(verified_at) AS newest \
                     FROM chain_verifications",
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM stage_tallies",
                    "SELECT * FROM history ORDER BY procedure_id, sequence LIMIT 101",
                ] {
                    out.extend(self.rows(sql, &[]).await);
                }
            }
        }
        serde_json::to_vec(&out).unwrap().len()
    }

    /// Every history row as CSV, read in batches of 1,000 by keyset as the export does: rows.
    pub async fn export_csv(&self) -> usize {
        let mut rows = 0;
        let mut after: Option<(String, i64)> = None;
        let mut sink = std::io::sink();
        loop {
            let batch = match &after {
                None => {
                    self.rows(
                        "SELECT * FROM history ORDER BY procedure_id, sequence LIMIT 1000",
                        &[],
                    )
                    .await
                }
                Some((procedure, sequence)) => {
                    let sequence = sequence.to_string();
                    let sql = format!(
                        "SELECT * FROM history WHERE (procedure_id, sequence) > ({}, CAST({} AS BIGINT)) \
                         ORDER BY procedure_id, sequence LIMIT 1000",
                        self.at(1),
                        self.at(2),
                    );
                    self.rows(&sql, &[procedure, &sequence]).await
                }
            };
            let Some(last) = batch.last() else { break };
            after = Some((
                last["procedure_id"].as_str().unwrap().to_string(),
                last["sequence"].as_i64().unwrap(),
            ));
            let mut csv = csv::Writer::from_writer(&mut sink);
            for row in &batch {
                let object = row.as_object().unwrap();
                csv.write_record(object.values().map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }))
                .unwrap();
            }
            csv.flush().unwrap();
            rows += batch.len();
        }
        rows
    }
}
