//! QR images of tokens (tickets, eSIM activation codes): SVG and PNG.

use std::io::Cursor;

use image::Luma;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

#[derive(Debug, thiserror::Error)]
#[error("cannot render QR code: {0}")]
pub struct QrError(pub String);

fn code(data: &str) -> Result<QrCode, QrError> {
    // Medium error correction survives a scratched phone screen at the gate
    // without making the code too dense to read.
    QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|e| QrError(e.to_string()))
}

/// The answer of a QR endpoint: `json` (the given response, the default),
/// or the image itself for `svg` and `png`. Never cached: it is a credential.
pub fn respond(
    format: Option<&str>,
    data: &str,
    json: axum::response::Response,
) -> Result<axum::response::Response, crate::error::ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let no_store = (header::CACHE_CONTROL, "no-store");
    let internal = |e: QrError| crate::error::ApiError::Internal(e.into());
    Ok(match format {
        Some("svg") => (
            [(header::CONTENT_TYPE, "image/svg+xml"), no_store],
            svg(data).map_err(internal)?,
        )
            .into_response(),
        Some("png") => (
            [(header::CONTENT_TYPE, "image/png"), no_store],
            png(data).map_err(internal)?,
        )
            .into_response(),
        _ => json,
    })
}

pub fn svg(data: &str) -> Result<String, QrError> {
    Ok(code(data)?
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

pub fn png(data: &str) -> Result<Vec<u8>, QrError> {
    let img = code(data)?
        .render::<Luma<u8>>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .build();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| QrError(e.to_string()))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    #[test]
    fn png_decodes_back_to_the_data() {
        let data = "LPA:1$smdp.example.com$ABCD-1234";
        let png = super::png(data).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, data);
        assert!(super::svg(data).unwrap().starts_with("<?xml"));
    }
}
