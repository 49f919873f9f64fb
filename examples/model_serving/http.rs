//! The queryable state (the tutorial's REST service): `GET /state` and `GET /health`.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use weir::scoring::ScoringHandle;

use crate::models::ServingModel;
use crate::server::RunningFlag;
use crate::stats::{StateJson, Stats};

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub scoring: ScoringHandle<ServingModel>,
    pub stats: Arc<Stats>,
    /// Whether the server's stream runs (it ends by draining or failing).
    pub running: RunningFlag,
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/state", get(model_state))
        .route("/health", get(health))
        .with_state(state)
}

/// Serves the routes on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The serving model's statistics and the server's counters.
async fn model_state(State(s): State<AppState>) -> Json<StateJson> {
    Json(StateJson::new(&s.stats, s.scoring.state()))
}

/// 200 while the server runs (saying whether a model serves yet), 503 once it stopped.
async fn health(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    if !s.running.get() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "stopped" })),
        );
    }
    let model = s.scoring.state().map(|m| m.name);
    let status = if model.is_some() {
        "serving"
    } else {
        "waiting for a model"
    };
    (
        StatusCode::OK,
        Json(json!({ "status": status, "model": model })),
    )
}
