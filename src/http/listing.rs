//! What every list endpoint shares: the created-at range, `limit` and the cursor, parsed with every bad
//! parameter named, and the page cut from one extra row. Lists are newest first with the id breaking
//! ties, so a cursor walk sees every row exactly once.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use chrono::{DateTime, Utc};

use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::store::Page;

pub const MAX_PAGE: i64 = 100;
pub const DEFAULT_PAGE: i64 = 20;

/// The query string as parameters; an unreadable one is a 400 `malformed_query`.
pub fn read_query(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<HashMap<String, String>> {
    let query = query.map(|Query(q)| q).map_err(|_| ApiError::BadRequest {
        code: "malformed_query",
        message: "the query string could not be read".to_owned(),
    })?;
    // A parameter given with no value is a mistake to name, not a filter to drop silently.
    let mut empty: Vec<&String> = query.keys().filter(|k| query[*k].is_empty()).collect();
    if !empty.is_empty() {
        empty.sort();
        let mut errors = FieldErrors::default();
        for key in empty {
            errors.add(key, "must not be empty (leave the parameter out instead)");
        }
        return Err(ApiError::Validation(errors.into_vec()));
    }
    Ok(query)
}

/// A trimmed, non-empty query parameter.
pub fn text(query: &HashMap<String, String>, key: &str) -> Option<String> {
    query
        .get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `createdFrom` and `createdTo` (RFC 3339, inclusive).
pub fn parse_page_bounds(
    query: &HashMap<String, String>,
    errors: &mut FieldErrors,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let page = parse_page(
        &query
            .iter()
            .filter(|(k, _)| *k == "createdFrom" || *k == "createdTo")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        errors,
    );
    (page.created_from, page.created_to)
}

/// `createdFrom`, `createdTo` (RFC 3339, inclusive), `limit` (1–100, default 20) and `cursor`.
pub fn parse_page(query: &HashMap<String, String>, errors: &mut FieldErrors) -> Page {
    let mut instant = |key: &str| {
        let value = text(query, key)?;
        match DateTime::parse_from_rfc3339(&value) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(_) => {
                errors.add(
                    key,
                    "must be an RFC 3339 timestamp, e.g. 2025-11-12T17:46:07Z",
                );
                None
            }
        }
    };
    let created_from = instant("createdFrom");
    let created_to = instant("createdTo");
    let limit = limit(query, errors);
    let after = text(query, "cursor").and_then(|c| {
        let decoded = decode_cursor(&c);
        if decoded.is_none() {
            errors.add("cursor", "is not a cursor this API returned");
        }
        decoded
    });
    Page {
        created_from,
        created_to,
        after,
        limit,
    }
}

/// `limit`: 1 to 100, default 20.
pub fn limit(query: &HashMap<String, String>, errors: &mut FieldErrors) -> i64 {
    match text(query, "limit") {
        None => DEFAULT_PAGE,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                errors.add(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                );
                DEFAULT_PAGE
            }
        },
    }
}

/// Cuts a page from rows fetched with `limit + 1`: the rows, whether more exist, and the next cursor.
pub fn cut<T>(
    mut rows: Vec<T>,
    limit: i64,
    position: impl Fn(&T) -> (DateTime<Utc>, &str),
) -> (Vec<T>, bool, Option<String>) {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = has_more
        .then(|| {
            rows.last().map(|r| {
                let (at, id) = position(r);
                encode_cursor(at, id)
            })
        })
        .flatten();
    (rows, has_more, next_cursor)
}

/// A cursor is the last row's position in list order: `<created_at µs>.<id>`.
fn encode_cursor(created_at: DateTime<Utc>, id: &str) -> String {
    format!("{}.{id}", created_at.timestamp_micros())
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, String)> {
    let (micros, id) = cursor.split_once('.')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    (!id.is_empty() && id.len() <= 64).then(|| (at, id.to_owned()))
}
