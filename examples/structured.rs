//! A reply as a Rust value: Claude plans a trip, and the answer comes back as a `Trip`, not
//! prose.
//!
//! Shows: `ChatSession::send_structured` for a type with `serde::Deserialize` and
//! `schemars::JsonSchema` (its doc comments tell the model what each field means), and the typed
//! error for a reply that does not fit it, whose text is still there.
//!
//! Newer models (Claude 4.5 and later) are held to the schema by Bedrock itself (Converse's
//! `outputConfig`); older ones are asked through a tool call they are made to make. The
//! exchange stays in the history as JSON, so the conversation can go on about it.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`).
//!
//! Run: `cargo run -p bedrock-chat-examples --example structured -- "Three days in Lyon"`

use bedrock_chat::{ChatConfig, Error};
use schemars::JsonSchema;
use serde::Deserialize;

/// A short trip, day by day.
#[derive(Debug, Deserialize, JsonSchema)]
struct Trip {
    /// Where the trip goes.
    destination: String,
    /// One entry per day, in order.
    days: Vec<Day>,
    /// A rough budget per person, in euros.
    budget_eur: u32,
}

/// What one day holds.
#[derive(Debug, Deserialize, JsonSchema)]
struct Day {
    /// A title for the day.
    title: String,
    /// Two to four things to do.
    activities: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let request = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Plan three days in Lyon.".to_string());
    let config = ChatConfig::from_env()?;
    let client = config.client().await?;
    let mut session = config.session_builder(client).build()?;

    let trip: Trip = match session.send_structured(request).await {
        Ok(trip) => trip,
        Err(error @ Error::StructuredReply { .. }) => {
            // The model answered, but not as a `Trip`: its words are kept for a person to read.
            eprintln!("{error}");
            eprintln!("the reply was: {}", error.raw_reply().unwrap_or_default());
            std::process::exit(1);
        }
        Err(error) => return Err(error.into()),
    };

    println!(
        "{} ({} days, about €{} each)",
        trip.destination,
        trip.days.len(),
        trip.budget_eur
    );
    for (number, day) in trip.days.iter().enumerate() {
        println!("  day {}: {}", number + 1, day.title);
        for activity in &day.activities {
            println!("    - {activity}");
        }
    }
    Ok(())
}
