//! The chart page: a convention's States, or a State's conventions, as the record stood at the
//! end of a day, members first; and the same as CSV.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::layout::{PageBody, app_error_page, show, some};
use super::render::page_language;
use super::session::SignedIn;
use crate::app::AppError;
use crate::app::chart::{ChartOf, ChartRow, chart_csv};
use crate::http::HttpState;
use crate::ids::{ConventionId, StateCode};
use crate::reference::Convention;

#[derive(Debug, Default, Deserialize)]
pub struct ChartQuery {
    convention: Option<String>,
    state: Option<String>,
    as_of: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Serialize)]
struct ChartPage {
    conventions: Vec<Convention>,
    /// What the form shows as chosen.
    convention: Option<ConventionId>,
    state: Option<StateCode>,
    as_of: Option<NaiveDate>,
    /// The query without `format`, for the CSV link; none before anything is chosen.
    csv_query: Option<String>,
    members: Vec<ChartRow>,
    others: Vec<ChartRow>,
    /// The title of the chosen convention in the page's language.
    title: Option<String>,
}

impl PageBody for ChartPage {
    const TEMPLATE: &'static str = "chart.html";
}

pub async fn chart(
    State(state): State<HttpState>,
    Query(q): Query<ChartQuery>,
    SignedIn { visitor: v, caller }: SignedIn,
) -> Response {
    let inner = async {
        let invalid = |what: &str, detail: String| AppError::InvalidField {
            field: if what == "as_of" { "as_of" } else { "state" },
            detail,
        };
        let convention = some(&q.convention)
            .map(ConventionId::parse)
            .transpose()
            .map_err(|e| AppError::Invalid(format!("convention: {e}")))?;
        let code = some(&q.state)
            .map(|s| StateCode::parse(s.trim().to_uppercase()))
            .transpose()
            .map_err(|e| invalid("state", format!("state: {e}")))?;
        let as_of = some(&q.as_of)
            .map(|d| {
                d.parse::<NaiveDate>().map_err(|_| {
                    let what = crate::locale::text(v.language, "chart_as_of");
                    let what = what.trim_end_matches(':');
                    invalid(
                        "as_of",
                        crate::locale::format(
                            v.language,
                            "form_not_a_date",
                            &[("what", what), ("value", d.trim())],
                        ),
                    )
                })
            })
            .transpose()?;
        let of = match (&convention, &code) {
            (Some(c), _) => Some(ChartOf::Convention(c.clone())),
            (None, Some(s)) => Some(ChartOf::State(s.clone())),
            (None, None) => None,
        };
        let chart = match &of {
            Some(of) => Some(state.app.chart(&caller.actor, of, as_of).await?),
            None => None,
        };
        if some(&q.format) == Some("csv")
            && let Some(chart) = &chart
        {
            let bytes = chart_csv(chart).map_err(|e| AppError::Io(e.to_string()))?;
            return Ok(crate::http::csv_attachment(
                bytes,
                &format!("chart-{}.csv", chart.as_of),
            ));
        }
        let conventions = state.app.conventions().await?;
        let title = convention.as_ref().and_then(|c| {
            conventions
                .iter()
                .find(|x| &x.id == c)
                .map(|x| format!("{} — {}", x.number, x.title_in(page_language(v.language))))
        });
        let csv_query = of.as_ref().map(|_| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, value) in [
                ("convention", &q.convention),
                ("state", &q.state),
                ("as_of", &q.as_of),
            ] {
                if let Some(value) = some(value) {
                    query.append_pair(k, value);
                }
            }
            query.append_pair("format", "csv");
            query.finish()
        });
        // States named in the reader's language, as the registry names them.
        let registry = state.app.states().await?;
        let (members, others): (Vec<_>, Vec<_>) = chart
            .map(|c| c.rows)
            .unwrap_or_default()
            .into_iter()
            .map(|mut r| {
                if let Some(s) = registry.iter().find(|s| s.code == r.state) {
                    r.state_name = s.name_in(v.language).to_string();
                }
                r
            })
            .partition(|r| r.coe_member);
        Ok(show(
            &v,
            StatusCode::OK,
            &ChartPage {
                conventions,
                convention,
                state: code,
                as_of: Some(as_of.unwrap_or_else(|| state.app.today())),
                csv_query,
                members,
                others,
                title,
            },
        ))
    };
    match inner.await {
        Ok(r) => r,
        Err(e) => app_error_page(&v, e),
    }
}
