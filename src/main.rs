use anyhow::Context;
use clap::{Parser, Subcommand};
use paiecashfan::app::{self, AppState};
use paiecashfan::auth::{password, token::Role};
use paiecashfan::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "paiecashfan", version, about = "PaieCashFan server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Ask a running server whether it is healthy (exit 0) or not (exit 1):
    /// the container image's HEALTHCHECK, which needs no curl.
    Health {
        /// The server's address (host:port); default 127.0.0.1 and PORT.
        #[arg(long)]
        addr: Option<String>,
    },
    /// Ledger tools.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Recommendation and prediction models.
    Ai {
        #[command(subcommand)]
        command: AiCommand,
    },
}

#[derive(Subcommand)]
enum AiCommand {
    /// Build the recommendation model from the database now; every running
    /// instance serves it within 30 seconds.
    Rebuild,
    /// Measure the recommender and the match model against their baselines
    /// (no database needed); exit 1 if either loses to its baseline.
    Evaluate {
        /// Synthetic fans.
        #[arg(long, default_value_t = 5000)]
        fans: usize,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every balance from the transfers; exit 1 on any break.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin, or with --club a staff member of that club.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        club: Option<String>,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

fn main() -> anyhow::Result<()> {
    paiecashfan::infra::memory::configure();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Some(Command::Ai {
        command: AiCommand::Evaluate { fans, seed, json },
    }) = cli.command
    {
        return evaluate(fans, seed, json);
    }
    if let Some(Command::Health { addr }) = &cli.command {
        let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
        let addr = addr.clone().unwrap_or_else(|| format!("127.0.0.1:{port}"));
        return health(&addr).await;
    }
    if let Some(Command::Openapi) = cli.command {
        println!(
            "{}",
            serde_json::to_string_pretty(&app::openapi_document())?
        );
        return Ok(());
    }
    let mut config = Config::from_env()?;
    init_tracing(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            config.demo_data = false;
            AppState::build(config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password: pw,
                    club,
                    name,
                },
        } => {
            config.demo_data = false;
            let state = AppState::build(config).await?;
            let email = paiecashfan::http::validate::normalize_email(&email)
                .context("invalid e-mail address")?;
            anyhow::ensure!(
                pw.chars().count() >= 8,
                "password must be at least 8 characters"
            );
            let hash = password::hash(pw)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let role = if club.is_some() {
                Role::Staff
            } else {
                Role::Admin
            };
            let user = state
                .auth
                .create_user(&email, &hash, &name, None, role, club.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created {} {} ({})", role.as_str(), user.email, user.id);
            Ok(())
        }
        Command::Openapi
        | Command::Health { .. }
        | Command::Ai {
            command: AiCommand::Evaluate { .. },
        } => Ok(()),
        Command::Ai {
            command: AiCommand::Rebuild,
        } => {
            config.demo_data = false;
            let state = AppState::build(config).await?;
            let r = state
                .ai
                .rebuild()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "model built at {}: {} fans, {} interactions, {} items, {} ms",
                r.built_at, r.fans, r.interactions, r.items, r.build_ms
            );
            Ok(())
        }
        Command::Ledger {
            command: LedgerCommand::Verify { json },
        } => {
            config.demo_data = false;
            let state = AppState::build(config).await?;
            let report = paiecashfan::wallet::verify::verify(&state.db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            if !report.ok {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn evaluate(fans: usize, seed: u64, json: bool) -> anyhow::Result<()> {
    use paiecashfan::ai::evaluate::{Population, evaluate};
    anyhow::ensure!(
        (100..=1_000_000).contains(&fans),
        "--fans must be between 100 and 1000000"
    );
    let report = evaluate(Population { fans, seed });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    let served = report.ranking.first();
    let baseline = report.score("popularity (baseline)");
    let beats = match (served, baseline) {
        (Some(s), Some(b)) => s.ndcg_at_10 > b.ndcg_at_10 && s.recall_at_10 > b.recall_at_10,
        _ => false,
    };
    let model = report.matches.first();
    let uniform = report.forecast("uniform (1/3 each)");
    let forecasts = match (model, uniform) {
        (Some(m), Some(u)) => m.brier < u.brier && m.log_loss < u.log_loss,
        _ => false,
    };
    if !(beats && forecasts) {
        eprintln!("FAILED: a model does not beat its baseline");
        std::process::exit(1);
    }
    Ok(())
}

fn print_report(r: &paiecashfan::wallet::verify::VerifyReport) {
    println!("ledger verify at {}", r.checked_at);
    println!("  accounts: {}, transfers: {}", r.accounts, r.transfers);
    for c in &r.currencies {
        println!(
            "  {} sum of balances: {} {}",
            c.currency,
            c.sum,
            if c.ok { "ok" } else { "BROKEN (must be 0)" }
        );
    }
    for m in &r.mismatches {
        println!(
            "  BROKEN account {}: stored {} != computed {}",
            m.account_id, m.stored, m.computed
        );
    }
    for a in &r.negative_user_accounts {
        println!("  BROKEN negative fan account {a}");
    }
    if r.currency_mismatches > 0 {
        println!(
            "  BROKEN {} transfers in a currency of neither account",
            r.currency_mismatches
        );
    }
    println!(
        "{}",
        if r.ok {
            "OK: the ledger balances"
        } else {
            "FAILED"
        }
    );
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let state = AppState::build(config).await?;
    tracing::info!(
        database = state.db.backend.name(),
        redis = state.redis.is_some(),
        demo_data = state.config.demo_data,
        "PaieCashFan listening on http://{local}"
    );
    // The banner is for a person at a terminal; with JSON logs every line
    // on stdout must stay JSON (the log line above says the same).
    if state.config.log_format == LogFormat::Pretty {
        println!("PaieCashFan server on http://{local}");
        println!("  Demo:     http://{local}/demo  (demo fan: demo@paiecashfan.com / demo123)");
        println!("  API:      http://{local}/api  (health: http://{local}/api/health)");
        println!("  API docs: http://{local}/docs");
        println!("  OpenAPI:  http://{local}/api/openapi.json");
    }
    app::serve(listener, state, app::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Pretty => builder.init(),
    }
}

/// `GET /api/health` over plain HTTP/1.1, with a deadline: healthy means a
/// 200 within 3 seconds.
async fn health(addr: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!(
                    "GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nPaieCashFan-Version: 2026-12-01\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        let mut head = Vec::new();
        stream.read_to_end(&mut head).await?;
        anyhow::Ok(head)
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(3), check)
        .await
        .context("no answer within 3 s")??;
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default().to_owned();
    if status_line.starts_with("HTTP/1.1 200") {
        println!("healthy: {status_line}");
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {status_line}")
    }
}
