//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Mooring: a machine identity platform (certificate authority, enrollment, revocation, audit).
#[derive(Parser, Debug)]
#[command(name = "moor", version, about)]
pub struct Cli {
    /// Data directory (config, database, keys).
    #[arg(
        long,
        global = true,
        env = "MOORING_HOME",
        default_value = "./mooring-data"
    )]
    pub home: PathBuf,
    /// Database, overriding `database` in mooring.toml: a SQLite file (relative to the
    /// home) or a `postgres://user@host:port/db` URL.
    #[arg(long, global = true, env = "MOORING_DATABASE")]
    pub database: Option<String>,
    /// Output format for listings and results.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Debug logging.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the root CA, the issuing intermediate, the admin token and the server certificate.
    Init(InitArgs),
    /// Run the HTTPS server (initialises the home on first run).
    Serve(ServeArgs),
    /// Issue a certificate with a server-generated key.
    Issue(IssueArgs),
    /// Sign a CSR.
    Sign(SignArgs),
    /// List and show certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Revoke a certificate.
    Revoke(RevokeArgs),
    /// What in the inventory needs attention: expiring, expired or revoked but served,
    /// weak keys, orphans, readable private keys, …
    Findings(FindingsArgs),
    /// Certificate authorities (issuers).
    #[command(subcommand)]
    Ca(CaCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The ACME server (external account binding credentials).
    #[command(subcommand)]
    Acme(AcmeCommand),
    /// Bring the database schema up to date and print its version (`serve` does this too
    /// on start).
    Migrate,
    /// The renewal agent for the machines that hold certificates (needs no home).
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Discovery scans: find the certificates machines present (needs no home).
    #[command(subcommand)]
    Scan(ScanCommand),
}

#[derive(Subcommand, Debug)]
pub enum ScanCommand {
    /// Connect to TLS endpoints and record every certificate chain they present.
    Tls(ScanTlsArgs),
    /// Walk paths for certificates (PEM, DER, PKCS#7, PKCS#12), OpenSSH keys and
    /// certificates, and private-key files (their mode and owner, never their content).
    Files(ScanFilesArgs),
}

#[derive(Args, Debug)]
pub struct ScanTlsArgs {
    /// Comma-separated: addresses, CIDR blocks, host names, each optionally with `:port`
    /// (IPv6 with a port in brackets: `[::1]:443`).
    #[arg(long)]
    pub targets: String,
    /// Ports for targets given without one (comma-separated).
    #[arg(long, default_value = "443")]
    pub ports: String,
    /// Server name to send (SNI); default: the host name of a name target, none for addresses.
    #[arg(long)]
    pub sni: Option<String>,
    /// Handshakes at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Time for each endpoint's connection and handshake together (`5s`, `500ms`, `1m`).
    #[arg(long, default_value = "5s")]
    pub timeout: String,
    #[command(flatten)]
    pub report: ScanReportArgs,
}

#[derive(Args, Debug)]
pub struct ScanFilesArgs {
    /// Files or directories (walked recursively; symlinked directories are not followed).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Stop after this many files.
    #[arg(long, default_value_t = 100_000)]
    pub max_files: usize,
    /// The host name recorded in a report (default: this machine's).
    #[arg(long)]
    pub host: Option<String>,
    #[command(flatten)]
    pub report: ScanReportArgs,
}

/// Where a scan reports to, instead of printing its results.
#[derive(Args, Debug)]
pub struct ScanReportArgs {
    /// Send the results to this Mooring server's inventory (`https://ca:8443`) and print
    /// its answer.
    #[arg(long, value_name = "URL")]
    pub report_to: Option<String>,
    /// An admin API token for --report-to.
    #[arg(long, env = "MOOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The roots to trust for --report-to (the server's `roots.pem`).
    #[arg(long, value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Obtain and renew the configured certificates: forever, or one pass with --once.
    Run {
        /// The agent's TOML configuration.
        #[arg(long)]
        config: PathBuf,
        /// One pass, then exit (for cron); exit 1 if a certificate failed.
        #[arg(long)]
        once: bool,
    },
    /// Each certificate's expiry, next renewal and last result.
    Status {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// Key algorithm of the root and the intermediate.
    #[arg(long, default_value = "ecdsa-p256")]
    pub algorithm: String,
    /// Write the root key to this file (to be moved off the machine) instead of the home.
    #[arg(long)]
    pub offline_root: Option<PathBuf>,
    #[command(flatten)]
    pub constraints: ConstraintArgs,
    /// Organisation name in CA subjects.
    #[arg(long, default_value = "Mooring")]
    pub organization: String,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ConstraintArgs {
    /// Permit only names under this DNS domain on the intermediate (repeatable).
    #[arg(long = "permit-dns")]
    pub permit_dns: Vec<String>,
    /// Exclude names under this DNS domain on the intermediate (repeatable).
    #[arg(long = "exclude-dns")]
    pub exclude_dns: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (overrides mooring.toml).
    #[arg(long)]
    pub listen: Option<String>,
    /// Plain-HTTP listener for public endpoints (overrides mooring.toml; "" disables).
    #[arg(long)]
    pub http_listen: Option<String>,
    /// Once listening, write the bound HTTPS address (line 1) and HTTP address (line 2, if any) here.
    #[arg(long)]
    pub addr_file: Option<PathBuf>,
    /// Port the ACME http-01 validation connects to (overrides `[acme] http01_port`).
    #[arg(long)]
    pub acme_http01_port: Option<u16>,
    /// Port the ACME tls-alpn-01 validation connects to (overrides `[acme] tlsalpn01_port`).
    #[arg(long)]
    pub acme_tlsalpn01_port: Option<u16>,
    /// DNS resolver (`ip:port`) of ACME validations (overrides `[acme] dns_resolver`).
    #[arg(long)]
    pub acme_dns_resolver: Option<String>,
    /// Let ACME validations connect to loopback addresses (tests only).
    #[arg(long)]
    pub acme_allow_loopback: bool,
}

#[derive(Args, Debug)]
pub struct IssueArgs {
    /// Profile.
    #[arg(long, default_value = "tls-server")]
    pub profile: String,
    /// Subject alternative names (DNS, IP, email, URI; repeatable).
    #[arg(long = "san", required = true)]
    pub sans: Vec<String>,
    /// Key algorithm to generate.
    #[arg(long, default_value = "ecdsa-p256")]
    pub algorithm: String,
    /// Subject common name.
    #[arg(long)]
    pub cn: Option<String>,
    /// Lifetime (`90d`, `12h`).
    #[arg(long)]
    pub lifetime: Option<String>,
    /// Write the certificate, chain and key to files with this prefix (`.crt`, `.chain.pem`, `.key`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write `<out>.p12` (PKCS#12: key, certificate, chain) protected by the password in this file.
    #[arg(long, requires = "out")]
    pub p12_password_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// Profile.
    #[arg(long, default_value = "tls-server")]
    pub profile: String,
    /// CSR file (PEM or DER).
    #[arg(long)]
    pub csr: PathBuf,
    /// Lifetime (`90d`, `12h`).
    #[arg(long)]
    pub lifetime: Option<String>,
    /// Write the certificate and chain to files with this prefix (`.crt`, `.chain.pem`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum CertsCommand {
    /// List certificates.
    List(ListArgs),
    /// Show one certificate.
    Show {
        /// Serial (hex).
        serial: String,
        /// Print the PEM certificate only.
        #[arg(long)]
        pem: bool,
    },
    /// Search the inventory (issued and discovered): `label:env=prod AND key.algorithm=rsa-2048`,
    /// `expires<30d`, `location=10.0.0.5`, `san=www.example.com`, `status=expiring`, …
    Search(SearchArgs),
    /// One inventory item by fingerprint: fields, locations, PEM.
    Item {
        /// SHA-256 fingerprint (hex, colons allowed).
        fingerprint: String,
    },
    /// Set the owner, team or labels of an inventory item.
    Tag(TagArgs),
    /// A group action over the items a query selects: a dry run unless --yes.
    Act(ActArgs),
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The query (terms joined by spaces or AND); empty: everything.
    #[arg(default_value = "")]
    pub query: String,
    /// Continue after this cursor (printed after a page).
    #[arg(long)]
    pub after: Option<String>,
    /// Items per page.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Every page, not one (at most 100,000 items).
    #[arg(long)]
    pub all: bool,
    /// CSV instead of the table (with --all: the whole result).
    #[arg(long)]
    pub csv: bool,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// SHA-256 fingerprint (hex, colons allowed).
    pub fingerprint: String,
    /// The owner (a person or mailbox); `--owner ''` clears it.
    #[arg(long)]
    pub owner: Option<String>,
    /// The team; `--team ''` clears it.
    #[arg(long)]
    pub team: Option<String>,
    /// Set a label (`--label env=prod`, repeatable); the others are kept.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Remove a label by name (repeatable).
    #[arg(long = "unlabel")]
    pub unlabel: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ActArgs {
    /// The query selecting the items.
    pub query: String,
    /// Revoke every selected certificate issued here.
    #[arg(long, conflicts_with = "renew")]
    pub revoke: bool,
    /// Reason for --revoke (as `moor revoke --reason`).
    #[arg(long, default_value = "unspecified")]
    pub reason: String,
    /// Open a renewal window now for every selected certificate (ARI; agents and ACME
    /// clients renew within it).
    #[arg(long)]
    pub renew: bool,
    /// How long the renewal window stays open.
    #[arg(long, default_value = "1d")]
    pub window: String,
    /// Act (without it: the dry run, listing what would be done and its selection).
    #[arg(long, requires = "selection")]
    pub yes: bool,
    /// The selection the dry run printed: --yes acts only if the items are still those.
    #[arg(long)]
    pub selection: Option<String>,
}

#[derive(Args, Debug)]
pub struct FindingsArgs {
    /// Only these kinds (comma-separated): expiring, expired-served, revoked-served,
    /// weak-key, weak-signature, shared-key, self-signed-leaf, unknown-issuer, orphan,
    /// key-file-readable.
    #[arg(long)]
    pub kind: Option<String>,
    /// At most this many of each kind.
    #[arg(long, default_value_t = 500)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long)]
    pub san: Option<String>,
    #[arg(long)]
    pub profile: Option<String>,
    #[arg(long)]
    pub issuer: Option<String>,
    /// valid, revoked or expired.
    #[arg(long)]
    pub status: Option<String>,
    /// Only those expiring within this duration (`30d`).
    #[arg(long)]
    pub expiring_within: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// Serial (hex).
    pub serial: String,
    /// Reason: unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation, privilege-withdrawn, aa-compromise.
    #[arg(long, default_value = "unspecified")]
    pub reason: String,
}

#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// List issuers.
    List,
    /// Add an issuing intermediate (optionally with a new root of its own).
    AddIssuer(AddIssuerArgs),
    /// Cross-sign an issuer with another root: its certificates then also chain to that
    /// root (ACME offers the chain as an alternate, Link rel="alternate").
    CrossSign(CrossSignArgs),
}

#[derive(Args, Debug)]
pub struct CrossSignArgs {
    /// The issuer whose name and key are certified.
    #[arg(long)]
    pub issuer: String,
    /// The root that signs.
    #[arg(long)]
    pub by: String,
    /// The key file of an offline root.
    #[arg(long)]
    pub root_key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AddIssuerArgs {
    /// Issuer id (used by profiles and in URLs).
    #[arg(long)]
    pub id: String,
    /// Key algorithm.
    #[arg(long, default_value = "ecdsa-p256")]
    pub algorithm: String,
    /// Create a new root for this issuer (e.g. a whole ML-DSA hierarchy).
    #[arg(long)]
    pub new_root: bool,
    /// Sign under this existing root (default: the first root).
    #[arg(long)]
    pub root: Option<String>,
    /// The key file of an offline root.
    #[arg(long)]
    pub root_key: Option<PathBuf>,
    /// With --new-root: write the new root's key here (offline root).
    #[arg(long)]
    pub offline_root: Option<PathBuf>,
    #[command(flatten)]
    pub constraints: ConstraintArgs,
    #[arg(long, default_value = "Mooring")]
    pub organization: String,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the hash chain of the audit log.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token (printed once): an admin API token, or with --profile a bootstrap
    /// token that lets a machine enroll (`POST /api/v1/enroll`) for the given names.
    Create(TokenCreateArgs),
    /// List bootstrap tokens (never their secrets).
    List,
    /// Revoke a bootstrap token.
    Revoke {
        /// Its id (btk…).
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    /// A name for an admin token.
    #[arg(long, default_value = "admin")]
    pub name: String,
    /// Make a bootstrap token for this profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// A name (or pattern such as *.devices.example.com) a certificate may carry; repeat.
    #[arg(long = "san")]
    pub sans: Vec<String>,
    /// How many certificates the bootstrap token may obtain.
    #[arg(long, default_value_t = 1)]
    pub uses: i64,
    /// How long the bootstrap token lives.
    #[arg(long, default_value = "24h")]
    pub ttl: String,
    /// Who answers for the machines enrolled with it.
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AcmeCommand {
    /// External account binding credentials (RFC 8555 §7.3.4).
    #[command(subcommand)]
    Eab(EabCommand),
    /// Move the ARI renewal window (RFC 9773) of a set of certificates to now, so their
    /// ACME clients renew within the window (e.g. everything from a compromised issuer).
    RenewNow(RenewNowArgs),
}

#[derive(clap::Args, Debug)]
pub struct RenewNowArgs {
    /// Certificates of this issuer.
    #[arg(long)]
    pub issuer: Option<String>,
    /// Certificates of this profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// This certificate (hex serial).
    #[arg(long)]
    pub serial: Option<String>,
    /// How long the window stays open from now (clients pick a time inside it).
    #[arg(long, default_value = "1h")]
    pub window: String,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Subcommand, Debug)]
pub enum EabCommand {
    /// Create a credential (prints its kid and base64url HMAC key once).
    Create {
        /// The profile (ACME directory) it is valid for; omitted: any.
        #[arg(long)]
        profile: Option<String>,
    },
}
