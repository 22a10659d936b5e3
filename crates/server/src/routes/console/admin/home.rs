//! `GET /admin`: the first section of the admin console the viewer may open (303), or the
//! page that turns them away.

use crate::app::AppState;
use crate::browser::{browser_of, refusal_page};
use crate::respond::see_other;
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    match state.engine.admin_home(&browser).await {
        Ok(section) => see_other(&state.endpoint(section.path())),
        Err(refusal) => refusal_page(&refusal),
    }
}
