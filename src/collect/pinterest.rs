//! What Pinterest's responses say of a board's pins, in the shapes they come in: the web
//! resource API (`BoardFeedResource` pages with a bookmark), the JSON embedded in a board page
//! (`__PWS_DATA__` / `__PWS_INITIAL_PROPS__`), and the official API v5 (`items[].media`).
//! Missing keys and nulls are normal, not errors: a pin without a usable image is skipped, a
//! video pin too.

use serde_json::Value;

/// One image of a pin: the URL to fetch, and one to try when the first answers 403 or 404
/// (an `/originals/` URL's `736x` variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinImage {
    pub url: String,
    pub fallback: Option<String>,
}

/// A pin with its images and what it says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub images: Vec<PinImage>,
}

/// One page of a board's pins and the bookmark of the next (none at the end).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedPage {
    pub pins: Vec<Pin>,
    pub next: Option<String>,
}

/// The bookmarks Pinterest sends at the end of a feed.
fn is_last_bookmark(bookmark: &str) -> bool {
    bookmark.is_empty() || bookmark == "-end-" || bookmark.starts_with("Y2JOb25lO")
}

fn text(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The best image of an `images` map: `orig`, else the widest `NNNx` key.
fn best_of(images: &Value) -> Option<String> {
    let map = images.as_object()?;
    if let Some(url) = map.get("orig").and_then(|o| o.get("url")).and_then(text) {
        return Some(url);
    }
    map.iter()
        .filter_map(|(key, image)| {
            let width: u32 = key.strip_suffix('x')?.parse().ok()?;
            Some((width, image.get("url").and_then(text)?))
        })
        .max_by_key(|(width, _)| *width)
        .map(|(_, url)| url)
}

/// The `736x` variant of an `/originals/` URL.
fn fallback_of(url: &str) -> Option<String> {
    url.contains("/originals/")
        .then(|| url.replacen("/originals/", "/736x/", 1))
}

fn image(url: String) -> PinImage {
    PinImage {
        fallback: fallback_of(&url),
        url,
    }
}

/// Whether a web pin is a video (its images are only the video's poster).
fn is_video(pin: &Value) -> bool {
    !pin.get("videos").is_none_or(Value::is_null)
        || pin
            .get("story_pin_data")
            .and_then(|s| s.get("pages"))
            .and_then(Value::as_array)
            .is_some_and(|pages| {
                pages.iter().any(|page| {
                    page.get("blocks")
                        .and_then(Value::as_array)
                        .is_some_and(|blocks| {
                            blocks
                                .iter()
                                .any(|b| !b.get("video").is_none_or(Value::is_null))
                        })
                })
            })
}

/// A pin of the web API or the embedded page data: a carousel's slots, a story pin's image
/// blocks, or its one image.
pub fn web_pin(pin: &Value) -> Option<Pin> {
    let id = pin.get("id").and_then(|v| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_u64().map(|n| n.to_string()))
    })?;
    if is_video(pin) {
        return None;
    }
    let mut urls: Vec<String> = Vec::new();
    if let Some(slots) = pin
        .get("carousel_data")
        .and_then(|c| c.get("carousel_slots"))
        .and_then(Value::as_array)
    {
        urls.extend(slots.iter().filter_map(|s| best_of(s.get("images")?)));
    }
    if urls.is_empty()
        && let Some(pages) = pin
            .get("story_pin_data")
            .and_then(|s| s.get("pages"))
            .and_then(Value::as_array)
    {
        for page in pages {
            let blocks = page.get("blocks").and_then(Value::as_array);
            for block in blocks.into_iter().flatten() {
                if let Some(url) = block
                    .get("image")
                    .and_then(|i| i.get("images"))
                    .and_then(best_of)
                {
                    urls.push(url);
                }
            }
        }
    }
    if urls.is_empty()
        && let Some(url) = pin.get("images").and_then(best_of)
    {
        urls.push(url);
    }
    urls.dedup();
    if urls.is_empty() {
        return None;
    }
    Some(Pin {
        id,
        title: pin
            .get("grid_title")
            .and_then(text)
            .or_else(|| pin.get("title").and_then(text)),
        description: pin.get("description").and_then(text),
        images: urls.into_iter().map(image).collect(),
    })
}

/// One page of `/resource/BoardFeedResource/get/`: `resource_response.data` is the pins (or
/// recommendations mixed in, which belong to no board or to another: kept only when
/// `board_id` matches) and `resource_response.bookmark` (or `resource.options.bookmarks[0]`)
/// the next page.
pub fn board_feed_page(response: &Value, board_id: &str) -> FeedPage {
    let data = response
        .get("resource_response")
        .and_then(|r| r.get("data"))
        .and_then(Value::as_array);
    let pins = data
        .into_iter()
        .flatten()
        .filter(|pin| belongs_to(pin, board_id))
        .filter_map(web_pin)
        .collect();
    let bookmark = response
        .get("resource_response")
        .and_then(|r| r.get("bookmark"))
        .and_then(Value::as_str)
        .or_else(|| {
            response
                .get("resource")
                .and_then(|r| r.get("options"))
                .and_then(|o| o.get("bookmarks"))
                .and_then(|b| b.get(0))
                .and_then(Value::as_str)
        });
    FeedPage {
        pins,
        next: bookmark
            .filter(|b| !is_last_bookmark(b))
            .map(str::to_string),
    }
}

/// Whether a pin is the board's own (a pin without a board field is taken as the board's).
fn belongs_to(pin: &Value, board_id: &str) -> bool {
    match pin.get("board").and_then(|b| b.get("id")) {
        Some(Value::String(id)) => id == board_id,
        Some(Value::Number(id)) => id.to_string() == board_id,
        _ => pin
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(|t| t == "pin"),
    }
}

/// The board id in a `/resource/BoardResource/get/` response.
pub fn board_id(response: &Value) -> Option<String> {
    let id = response.get("resource_response")?.get("data")?.get("id")?;
    id.as_str()
        .map(str::to_string)
        .or_else(|| id.as_u64().map(|n| n.to_string()))
}

/// The pins in a board page's embedded JSON (`<script id="__PWS_DATA__">` or
/// `__PWS_INITIAL_PROPS__`, pins under `initialReduxState.pins`), the board's own only when
/// `board_id` is known.
pub fn embedded_pins(html: &str, board_id: Option<&str>) -> Vec<Pin> {
    let Some(state) = ["__PWS_DATA__", "__PWS_INITIAL_PROPS__"]
        .iter()
        .find_map(|id| script_json(html, id))
    else {
        return Vec::new();
    };
    let redux = state
        .get("props")
        .and_then(|p| p.get("initialReduxState"))
        .or_else(|| state.get("initialReduxState"));
    let Some(pins) = redux.and_then(|r| r.get("pins")).and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut found: Vec<Pin> = pins
        .values()
        .filter(|pin| board_id.is_none_or(|id| belongs_to(pin, id)))
        .filter_map(web_pin)
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

/// The JSON inside `<script id="ID" ...>...</script>`.
fn script_json(html: &str, id: &str) -> Option<Value> {
    let marker = html
        .find(&format!("id=\"{id}\""))
        .or_else(|| html.find(&format!("id='{id}'")))?;
    let start = marker + html[marker..].find('>')? + 1;
    let end = start + html[start..].find("</script>")?;
    serde_json::from_str(html[start..end].trim()).ok()
}

/// One page of the API v5 `GET /v5/boards/{id}/pins`: `items[]` with `media.images` (`1200x`,
/// else the widest) or, for carousels, `media.items[].images`; `bookmark` the next page.
pub fn api_page(response: &Value) -> FeedPage {
    let items = response.get("items").and_then(Value::as_array);
    let pins = items
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let id = item.get("id").and_then(text)?;
            let media = item.get("media")?;
            if media
                .get("media_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.contains("video"))
            {
                return None;
            }
            let best = |images: &Value| {
                images
                    .get("1200x")
                    .and_then(|i| i.get("url"))
                    .and_then(text)
                    .or_else(|| best_of(images))
            };
            let mut urls: Vec<String> = media
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| best(i.get("images")?))
                .collect();
            if urls.is_empty()
                && let Some(url) = media.get("images").and_then(best)
            {
                urls.push(url);
            }
            if urls.is_empty() {
                return None;
            }
            Some(Pin {
                id,
                title: item.get("title").and_then(text),
                description: item.get("description").and_then(text),
                images: urls.into_iter().map(image).collect(),
            })
        })
        .collect();
    FeedPage {
        pins,
        next: response
            .get("bookmark")
            .and_then(Value::as_str)
            .filter(|b| !is_last_bookmark(b))
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn urls(page: &FeedPage) -> Vec<Vec<&str>> {
        page.pins
            .iter()
            .map(|p| p.images.iter().map(|i| i.url.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_feed_page_takes_the_boards_pins_in_every_shape() {
        let response = json!({
            "resource": {"options": {"bookmarks": ["ignored when the response has one"]}},
            "resource_response": {
                "bookmark": "P2J5eyJwaW4iOjF9",
                "data": [
                    {"id": "1", "board": {"id": "77"}, "grid_title": " Look 1 ", "description": null,
                     "images": {"orig": {"url": "https://i.pinimg.com/originals/aa/1.jpg"},
                                "236x": {"url": "https://i.pinimg.com/236x/aa/1.jpg"}}},
                    {"id": 2, "board": {"id": 77},
                     "images": {"170x": {"url": "https://i.pinimg.com/170x/b.jpg"},
                                "736x": {"url": "https://i.pinimg.com/736x/b.jpg"},
                                "orig": null}},
                    {"id": "3", "board": {"id": "77"},
                     "carousel_data": {"carousel_slots": [
                        {"images": {"orig": {"url": "https://i.pinimg.com/originals/c1.jpg"}}},
                        {"images": null},
                        {"images": {"474x": {"url": "https://i.pinimg.com/474x/c2.jpg"}}}]}},
                    {"id": "4", "board": {"id": "77"},
                     "story_pin_data": {"pages": [
                        {"blocks": [{"image": {"images": {"originals": null,
                            "736x": {"url": "https://i.pinimg.com/736x/s1.jpg"}}}}]},
                        {"blocks": [{"type": "text"}]}]}},
                    {"id": "5", "board": {"id": "77"}, "videos": {"video_list": {}},
                     "images": {"orig": {"url": "https://i.pinimg.com/originals/v.jpg"}}},
                    {"id": "6", "board": {"id": "12"},
                     "images": {"orig": {"url": "https://i.pinimg.com/originals/other.jpg"}}},
                    {"id": "7", "board": {"id": "77"}, "images": {}},
                    {"type": "story", "id": "8"}
                ]
            }
        });
        let page = board_feed_page(&response, "77");
        assert_eq!(
            urls(&page),
            vec![
                vec!["https://i.pinimg.com/originals/aa/1.jpg"],
                vec!["https://i.pinimg.com/736x/b.jpg"],
                vec![
                    "https://i.pinimg.com/originals/c1.jpg",
                    "https://i.pinimg.com/474x/c2.jpg"
                ],
                vec!["https://i.pinimg.com/736x/s1.jpg"],
            ],
            "videos, other boards' pins and pins without images are left out"
        );
        assert_eq!(page.pins[0].title.as_deref(), Some("Look 1"));
        assert_eq!(page.pins[0].description, None);
        assert_eq!(page.pins[1].id, "2");
        assert_eq!(
            page.pins[0].images[0].fallback.as_deref(),
            Some("https://i.pinimg.com/736x/aa/1.jpg")
        );
        assert_eq!(page.next.as_deref(), Some("P2J5eyJwaW4iOjF9"));
    }

    #[test]
    fn the_feed_ends_on_an_empty_end_or_none_bookmark() {
        for end in ["", "-end-", "Y2JOb25lOnRydWU="] {
            let response = json!({"resource_response": {"data": [], "bookmark": end}});
            assert_eq!(board_feed_page(&response, "1").next, None, "{end:?}");
        }
        let fallback = json!({"resource": {"options": {"bookmarks": ["next-one"]}},
                              "resource_response": {"data": null}});
        assert_eq!(
            board_feed_page(&fallback, "1").next.as_deref(),
            Some("next-one")
        );
        assert_eq!(board_feed_page(&json!({}), "1"), FeedPage::default());
        assert_eq!(
            board_id(&json!({"resource_response": {"data": {"id": 5551}}})).as_deref(),
            Some("5551")
        );
    }

    #[test]
    fn pins_come_out_of_a_board_pages_embedded_json() {
        let state = json!({"props": {"initialReduxState": {"pins": {
            "20": {"id": "20", "board": {"id": "9"}, "title": "Coat",
                   "images": {"orig": {"url": "https://i.pinimg.com/originals/20.jpg"}}},
            "10": {"id": "10", "board": {"id": "9"},
                   "images": {"564x": {"url": "https://i.pinimg.com/564x/10.jpg"}}},
            "30": {"id": "30", "board": {"id": "4"},
                   "images": {"orig": {"url": "https://i.pinimg.com/originals/30.jpg"}}}
        }}}});
        let html = format!(
            "<html><head><script id=\"__PWS_DATA__\" type=\"application/json\">{state}</script></head></html>"
        );
        let pins = embedded_pins(&html, Some("9"));
        assert_eq!(
            pins.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["10", "20"]
        );
        assert_eq!(pins[1].title.as_deref(), Some("Coat"));
        assert_eq!(embedded_pins(&html, None).len(), 3);
        assert!(embedded_pins("<html>no data</html>", None).is_empty());
        assert!(embedded_pins("<script id=\"__PWS_DATA__\">{not json</script>", None).is_empty());
    }

    #[test]
    fn api_pages_take_1200x_carousels_and_skip_videos() {
        let response = json!({
            "bookmark": "b2",
            "items": [
                {"id": "1", "title": "Runway", "media": {"media_type": "image", "images": {
                    "150x150": {"url": "https://i.pinimg.com/150x150/1.jpg"},
                    "600x": {"url": "https://i.pinimg.com/600x/1.jpg"},
                    "1200x": {"url": "https://i.pinimg.com/1200x/1.jpg"}}}},
                {"id": "2", "media": {"media_type": "image", "images": {
                    "400x300": {"url": "https://i.pinimg.com/400x300/2.jpg"},
                    "600x": {"url": "https://i.pinimg.com/600x/2.jpg"}}}},
                {"id": "3", "media": {"media_type": "multiple_images", "items": [
                    {"images": {"1200x": {"url": "https://i.pinimg.com/1200x/3a.jpg"}}},
                    {"images": {"1200x": {"url": "https://i.pinimg.com/1200x/3b.jpg"}}}]}},
                {"id": "4", "media": {"media_type": "video", "images": {
                    "1200x": {"url": "https://i.pinimg.com/1200x/4.jpg"}}}},
                {"id": "5", "media": null}
            ]
        });
        let page = api_page(&response);
        assert_eq!(
            urls(&page),
            vec![
                vec!["https://i.pinimg.com/1200x/1.jpg"],
                vec!["https://i.pinimg.com/600x/2.jpg"],
                vec![
                    "https://i.pinimg.com/1200x/3a.jpg",
                    "https://i.pinimg.com/1200x/3b.jpg"
                ],
            ]
        );
        assert_eq!(page.pins[0].title.as_deref(), Some("Runway"));
        assert_eq!(page.next.as_deref(), Some("b2"));
        assert_eq!(api_page(&json!({"items": [], "bookmark": null})).next, None);
    }
}
