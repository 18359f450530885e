//! Which Microsoft cloud a tenant lives in. Microsoft 365 runs as separate
//! clouds with their own sign-in authority, token audiences and mail hosts:
//! a tenant of the US government cloud cannot sign in at the global
//! authority, and a token for the global Exchange is refused by the
//! government's. One setting picks all of them together, so they cannot
//! disagree.
//!
//! The values are the ones Microsoft and established mail tools publish for
//! each cloud (see `docs/sovereign-clouds.md` for the sources and what could
//! not be confirmed here); every one can still be overridden per account
//! (`authority`, `host`, `smtp_host`).

use std::fmt;

/// A Microsoft 365 cloud (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    /// The worldwide (commercial) cloud, and GCC (moderate), which uses it.
    #[default]
    Global,
    /// US Government GCC High.
    UsGovernment,
    /// US Government DoD.
    UsDod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    pub const ALL: [Cloud; 4] = [
        Cloud::Global,
        Cloud::UsGovernment,
        Cloud::UsDod,
        Cloud::China,
    ];

    /// The setting's value, as written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGovernment => "us-government",
            Cloud::UsDod => "us-dod",
            Cloud::China => "china",
        }
    }

    /// Reads a setting's value; the names administrators know the clouds
    /// by are accepted too.
    pub fn parse(value: &str) -> Option<Cloud> {
        match value.trim().to_ascii_lowercase().as_str() {
            "global" | "worldwide" | "commercial" | "gcc" => Some(Cloud::Global),
            "us-government" | "usgovernment" | "gcc-high" | "gcchigh" => Some(Cloud::UsGovernment),
            "us-dod" | "dod" => Some(Cloud::UsDod),
            "china" | "21vianet" => Some(Cloud::China),
            _ => None,
        }
    }

    /// Where tokens are asked for.
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGovernment | Cloud::UsDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// Exchange Online as a token audience: the resource of the scopes.
    fn exchange_resource(self) -> &'static str {
        match self {
            Cloud::Global => "https://outlook.office365.com",
            Cloud::UsGovernment | Cloud::UsDod => "https://outlook.office365.us",
            Cloud::China => "https://partner.outlook.cn",
        }
    }

    /// The scope of app-only access (client credentials): everything the
    /// app was granted on Exchange (`IMAP.AccessAsApp`, `SMTP.SendAsApp`).
    pub fn app_scope(self) -> String {
        format!("{}/.default", self.exchange_resource())
    }

    /// The scopes of delegated IMAP access, with a refresh token.
    pub fn delegated_scope(self) -> String {
        let resource = match self {
            // The global cloud's delegated permission is published under
            // outlook.office.com; both names reach the same resource.
            Cloud::Global => "https://outlook.office.com",
            other => other.exchange_resource(),
        };
        format!("{resource}/IMAP.AccessAsUser.All offline_access")
    }

    /// The IMAP host (port 993, implicit TLS).
    pub fn imap_host(self) -> &'static str {
        match self {
            Cloud::Global => "outlook.office365.com",
            Cloud::UsGovernment => "outlook.office365.us",
            Cloud::UsDod => "outlook-dod.office365.us",
            Cloud::China => "partner.outlook.cn",
        }
    }

    /// The SMTP submission host (port 587, STARTTLS).
    pub fn smtp_host(self) -> &'static str {
        match self {
            Cloud::Global => "smtp.office365.com",
            Cloud::UsGovernment => "smtp.office365.us",
            Cloud::UsDod => "outlook-dod.office365.us",
            Cloud::China => "smtp.partner.outlook.cn",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_aliases_are_understood() {
        for cloud in Cloud::ALL {
            assert_eq!(Cloud::parse(cloud.name()), Some(cloud));
        }
        assert_eq!(Cloud::parse("GCC-High"), Some(Cloud::UsGovernment));
        assert_eq!(Cloud::parse("gcc"), Some(Cloud::Global));
        assert_eq!(Cloud::parse("21Vianet"), Some(Cloud::China));
        assert_eq!(Cloud::parse("germany"), None);
    }

    #[test]
    fn each_cloud_keeps_its_endpoints_together() {
        let table = [
            (
                Cloud::Global,
                "https://login.microsoftonline.com",
                "https://outlook.office365.com/.default",
                "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
                "outlook.office365.com",
                "smtp.office365.com",
            ),
            (
                Cloud::UsGovernment,
                "https://login.microsoftonline.us",
                "https://outlook.office365.us/.default",
                "https://outlook.office365.us/IMAP.AccessAsUser.All offline_access",
                "outlook.office365.us",
                "smtp.office365.us",
            ),
            (
                Cloud::UsDod,
                "https://login.microsoftonline.us",
                "https://outlook.office365.us/.default",
                "https://outlook.office365.us/IMAP.AccessAsUser.All offline_access",
                "outlook-dod.office365.us",
                "outlook-dod.office365.us",
            ),
            (
                Cloud::China,
                "https://login.chinacloudapi.cn",
                "https://partner.outlook.cn/.default",
                "https://partner.outlook.cn/IMAP.AccessAsUser.All offline_access",
                "partner.outlook.cn",
                "smtp.partner.outlook.cn",
            ),
        ];
        for (cloud, authority, app, delegated, imap, smtp) in table {
            assert_eq!(cloud.authority(), authority, "{cloud}");
            assert_eq!(cloud.app_scope(), app, "{cloud}");
            assert_eq!(cloud.delegated_scope(), delegated, "{cloud}");
            assert_eq!(cloud.imap_host(), imap, "{cloud}");
            assert_eq!(cloud.smtp_host(), smtp, "{cloud}");
        }
    }
}
