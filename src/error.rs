//! One error type and one JSON error shape for every failure:
//! `{"success":false,"status":"error","statusCode":422,"message":"…","error":{"code":"…","fields":[…]}}`.
//! Internal causes are logged, never sent: no SQL, type names or stack text reach a response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::validate::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body is larger than the 1 MiB limit")]
    PayloadTooLarge,
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("{}", validation_message(.0))]
    Validation(Vec<FieldError>),
    /// A debit the mandate's limits do not allow: 422 `limit_exceeded`, the limit named as the field.
    #[error("{}", validation_message(.0))]
    LimitExceeded(Vec<FieldError>),
    #[error("{0}")]
    Provider(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("request timed out")]
    Timeout,
    /// Too many requests for this key (or, unauthenticated, from this address): retry after the wait.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        /// The limit's burst, for `RateLimit-Limit`.
        limit: u32,
    },
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn validation_message(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{} {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ApiError {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) | ApiError::LimitExceeded(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Provider(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable snake_case code merchants can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Validation(_) => "validation_failed",
            ApiError::LimitExceeded(_) => "limit_exceeded",
            ApiError::Provider(_) => "provider_error",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Timeout => "request_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let fields = match self {
            ApiError::Validation(fields) | ApiError::LimitExceeded(fields) => fields.clone(),
            _ => Vec::new(),
        };
        ErrorBody {
            success: false,
            status: "error",
            status_code: self.status().as_u16(),
            message: self.to_string(),
            error: ErrorDetail {
                code: self.code(),
                fields,
            },
        }
    }
}

/// The one error shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// Always "error".
    #[schema(example = "error")]
    pub status: &'static str,
    #[schema(example = 422)]
    pub status_code: u16,
    #[schema(example = "amount.value must be greater than 0")]
    pub message: String,
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    /// Every bad field, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(source) = &self {
            tracing::error!(error = %source, "internal error");
        }
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let ApiError::RateLimited {
            retry_after_secs,
            limit,
        } = &self
        {
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            headers.insert("ratelimit-limit", HeaderValue::from(*limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(0));
            headers.insert("ratelimit-reset", HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    /// Unique violations a request can cause become conflicts, by constraint name; anything else is internal.
    fn from(e: sqlx::Error) -> ApiError {
        if let Some(db) = e.as_database_error() {
            // NUL bytes and text PostgreSQL cannot store: the request's fault, whichever field it was in.
            if matches!(db.code().as_deref(), Some("22021") | Some("22P05")) {
                return ApiError::BadRequest {
                    code: "invalid_text",
                    message: "the request contains characters that cannot be stored (e.g. NUL)"
                        .to_owned(),
                };
            }
            if db.constraint() == Some("collections_reference_key") {
                return ApiError::Conflict {
                    code: "duplicate_reference",
                    message: "a collection with this reference already exists".to_owned(),
                };
            }
            if db.constraint() == Some("contacts_merchant_id_phone_key") {
                return ApiError::Conflict {
                    code: "duplicate_phone",
                    message:
                        "another of your contacts has this phone (a phone is a contact's identity)"
                            .to_owned(),
                };
            }
        }
        if matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) {
            tracing::error!(error = %e, "database unavailable");
            return ApiError::Unavailable(
                "the database is unavailable; try again shortly".to_owned(),
            );
        }
        ApiError::internal(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
