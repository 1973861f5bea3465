//! Which fetches of a tracked link are not a person's click: link-preview fetchers (chat apps
//! unfurling a pasted link), crawlers, AI agents' fetchers, command-line clients and browser
//! prefetches. They are redirected like anyone else, but not counted as clicks.

/// User-Agent fragments of automated fetchers, lower case, matched as substrings. Chosen
/// fragments, not a generic "bot": phone models such as "CUBOT" carry those letters.
const AUTOMATED_AGENTS: &[&str] = &[
    // chat and social link previews
    "slackbot",
    "slack-imgproxy",
    "twitterbot",
    "facebookexternalhit",
    "facebot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "linkedinbot",
    "skypeuripreview",
    "redditbot",
    "pinterestbot",
    "vkshare",
    "viber",
    "embedly",
    "iframely",
    "mastodon",
    "bluesky",
    "snapchat",
    // search engines
    "googlebot",
    "google-inspectiontool",
    "adsbot-google",
    "bingbot",
    "bingpreview",
    "applebot",
    "yandexbot",
    "duckduckbot",
    "baiduspider",
    "petalbot",
    // AI assistants fetching on a user's behalf (a summary is not a visit to the shop)
    "gptbot",
    "chatgpt-user",
    "oai-searchbot",
    "claudebot",
    "claude-user",
    "perplexitybot",
    // command-line and library clients: a person clicking a link uses a browser
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "okhttp",
    "libwww-perl",
    "httpie",
];

/// True when a fetch with this `User-Agent` is not counted as a click. A missing or empty
/// agent is not a browser either.
pub fn is_automated_agent(user_agent: Option<&str>) -> bool {
    let Some(agent) = user_agent.map(str::trim).filter(|a| !a.is_empty()) else {
        return true;
    };
    // Agents are short; lower-casing a bounded prefix keeps a hostile header cheap.
    let mut end = agent.len().min(512);
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    let lower = agent[..end].to_ascii_lowercase();
    AUTOMATED_AGENTS.iter().any(|needle| lower.contains(needle))
}

/// True when a `Sec-Purpose` or `Purpose` header marks the fetch as a prefetch or prerender:
/// the browser may never show the page.
pub fn is_prefetch(purpose: Option<&str>) -> bool {
    purpose.is_some_and(|p| {
        let p = p.to_ascii_lowercase();
        p.contains("prefetch") || p.contains("prerender") || p.contains("preview")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_crawlers_and_scripts_are_automated() {
        for agent in [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Twitterbot/1.0",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "WhatsApp/2.23.20.0 A",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ChatGPT-User/1.0; +https://openai.com/bot)",
            "curl/8.5.0",
            "Wget/1.21.4",
            "python-requests/2.31.0",
            "Go-http-client/1.1",
            "",
            "   ",
        ] {
            assert!(is_automated_agent(Some(agent)), "{agent}");
        }
        assert!(is_automated_agent(None));
    }

    #[test]
    fn browsers_are_people() {
        for agent in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Mozilla/5.0 (Linux; Android 13; CUBOT KingKong 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
        ] {
            assert!(!is_automated_agent(Some(agent)), "{agent}");
        }
    }

    #[test]
    fn prefetches_are_recognised() {
        assert!(is_prefetch(Some("prefetch")));
        assert!(is_prefetch(Some("prefetch;prerender")));
        assert!(is_prefetch(Some("Prefetch")));
        assert!(!is_prefetch(None));
        assert!(!is_prefetch(Some("")));
    }

    #[test]
    fn long_hostile_agents_are_cheap_and_safe() {
        let agent = format!("{}é{}", "a".repeat(511), "b".repeat(100_000));
        assert!(!is_automated_agent(Some(&agent)));
    }
}
