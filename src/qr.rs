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
