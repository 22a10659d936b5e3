//! `palisade client ...` (adding clients comes with dynamic registration).

use super::{CommandError, audit};
use crate::storage::Storage;
use clap::Subcommand;
use palisade_core::StoreError;
use palisade_core::model::ClientId;
use palisade_core::ports::ClientRepository;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// List registered clients.
    List,
    /// Delete a client with its consents and refresh tokens.
    Remove { client_id: String },
}

pub async fn run(cmd: ClientCommand, storage: &Storage) -> Result<(), CommandError> {
    let store = &storage.sql;
    match cmd {
        ClientCommand::List => {
            println!("{:<44}  {:<12}  {:<28}  NAME", "CLIENT_ID", "TYPE", "GRANTS");
            for c in store.list_clients().await? {
                println!(
                    "{:<44}  {:<12}  {:<28}  {}",
                    c.id,
                    c.client_type.as_str(),
                    c.grant_types.join(","),
                    c.name
                );
            }
        }
        ClientCommand::Remove { client_id } => {
            let id = ClientId(client_id);
            store.delete_client(&id).await.map_err(|e| match e {
                StoreError::NotFound => CommandError::new(format!("no client {id}")),
                other => other.into(),
            })?;
            audit(store, "client.delete", &format!("client:{id}")).await;
            println!("removed client {id}");
        }
    }
    Ok(())
}
