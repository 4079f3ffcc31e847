//! Images and documents in a user's message: what Bedrock accepts, checked before sending.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest image Bedrock accepts, in bytes (3.75 MB).
pub const MAX_IMAGE_BYTES: usize = 3_750_000;
/// The widest and tallest image Bedrock accepts, in pixels.
pub const MAX_IMAGE_SIDE: usize = 8000;
/// The most images one message may carry.
pub const MAX_IMAGES_PER_MESSAGE: usize = 20;
/// The largest document Bedrock accepts, in bytes (4.5 MB).
pub const MAX_DOCUMENT_BYTES: usize = 4_500_000;
/// The most documents one message may carry.
pub const MAX_DOCUMENTS_PER_MESSAGE: usize = 5;

/// An image's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
}

/// A document's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DocumentFormat {
    /// PDF.
    Pdf,
    /// Comma-separated values.
    Csv,
    /// Word 97–2003.
    Doc,
    /// Word.
    Docx,
    /// Excel 97–2003.
    Xls,
    /// Excel.
    Xlsx,
    /// HTML.
    Html,
    /// Plain text.
    Txt,
    /// Markdown.
    Md,
}

/// An image or a document to send with a message, made with [`Attachment::from_path`] or
/// [`Attachment::from_bytes`], which read the format from the content and check Bedrock's
/// limits at once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Attachment {
    /// An image.
    Image {
        /// Its format.
        format: ImageFormat,
        /// Its bytes (base64 in JSON).
        #[serde(with = "base64_bytes")]
        bytes: Vec<u8>,
    },
    /// A document.
    Document {
        /// Its format.
        format: DocumentFormat,
        /// Its name, as Bedrock allows it (see [`document_name`]).
        name: String,
        /// Its bytes (base64 in JSON).
        #[serde(with = "base64_bytes")]
        bytes: Vec<u8>,
        /// Whether the model is asked to cite it (see [`with_citations`](Attachment::with_citations)).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        citations: bool,
    },
}

impl Attachment {
    /// Reads a file and makes it an attachment, its format read from its content (and, for
    /// formats that share a container, such as DOCX and XLSX, from its extension).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the file cannot be read (saying why), is of a format Bedrock
    /// does not take, or is over Bedrock's limits.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let metadata = std::fs::metadata(path).map_err(|e| read_error(path, &e))?;
        if !metadata.is_file() {
            return Err(Error::invalid_input(format!(
                "{} is not a regular file, so it cannot be attached",
                path.display()
            )));
        }
        // Larger than any attachment Bedrock takes: refuse before reading it all.
        if metadata.len() > MAX_DOCUMENT_BYTES as u64 {
            return Err(too_large(
                &path.display().to_string(),
                metadata.len() as usize,
                MAX_DOCUMENT_BYTES,
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| read_error(path, &e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::from_bytes(bytes, &name)
    }

    /// Makes an attachment of `bytes` named `name` (a file name: its extension tells DOCX from
    /// XLSX, and text from Markdown, HTML or CSV).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a format Bedrock does not take or content over its limits.
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self> {
        let extension = Path::new(name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let attachment = match sniff(&bytes, &extension) {
            Some(Kind::Image(format)) => Attachment::Image { format, bytes },
            Some(Kind::Document(format)) => Attachment::Document {
                format,
                name: document_name(name),
                bytes,
                citations: false,
            },
            None => {
                return Err(Error::invalid_input(format!(
                    "{name:?} is not an attachment Bedrock takes: images must be PNG, JPEG, GIF or \
                     WebP, documents PDF, CSV, DOC, DOCX, XLS, XLSX, HTML, TXT or MD"
                )));
            }
        };
        attachment.check(name)?;
        Ok(attachment)
    }

    /// An image from bytes, its format read from them.
    ///
    /// # Errors
    ///
    /// As [`from_bytes`](Self::from_bytes), and when the bytes are not an image.
    pub fn image(bytes: Vec<u8>) -> Result<Self> {
        match Self::from_bytes(bytes, "image")? {
            image @ Attachment::Image { .. } => Ok(image),
            _ => Err(Error::invalid_input(
                "the bytes are not a PNG, JPEG, GIF or WebP image",
            )),
        }
    }

    /// Asks the model to cite the document: the reply's words that come from it carry
    /// [`Citation`](crate::Citation)s of its pages or characters. Nothing changes for an image.
    /// Default is off.
    #[must_use]
    pub fn with_citations(mut self) -> Self {
        if let Attachment::Document { citations, .. } = &mut self {
            *citations = true;
        }
        self
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        match self {
            Attachment::Image { bytes, .. } | Attachment::Document { bytes, .. } => bytes.len(),
        }
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Attachment::Image { bytes, .. } | Attachment::Document { bytes, .. } => bytes,
        }
    }

    /// A document's name; `None` for an image (Bedrock keeps no name for images).
    pub fn name(&self) -> Option<&str> {
        match self {
            Attachment::Image { .. } => None,
            Attachment::Document { name, .. } => Some(name),
        }
    }

    /// The format as a lowercase word: `png`, `jpeg`, `pdf`, `docx`, ...
    pub fn format_name(&self) -> &'static str {
        match self {
            Attachment::Image { format, .. } => match format {
                ImageFormat::Png => "png",
                ImageFormat::Jpeg => "jpeg",
                ImageFormat::Gif => "gif",
                ImageFormat::Webp => "webp",
            },
            Attachment::Document { format, .. } => match format {
                DocumentFormat::Pdf => "pdf",
                DocumentFormat::Csv => "csv",
                DocumentFormat::Doc => "doc",
                DocumentFormat::Docx => "docx",
                DocumentFormat::Xls => "xls",
                DocumentFormat::Xlsx => "xlsx",
                DocumentFormat::Html => "html",
                DocumentFormat::Txt => "txt",
                DocumentFormat::Md => "md",
            },
        }
    }

    /// The IANA media type (`image/png`, `application/pdf`, ...), for serving the bytes back.
    pub fn media_type(&self) -> &'static str {
        match self.format_name() {
            "png" => "image/png",
            "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "webp" => "image/webp",
            "pdf" => "application/pdf",
            "csv" => "text/csv",
            "doc" => "application/msword",
            "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "xls" => "application/vnd.ms-excel",
            "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "html" => "text/html",
            "md" => "text/markdown",
            _ => "text/plain",
        }
    }

    /// The bytes of text it counts as when tokens are estimated before sending (an image
    /// about 1,600 tokens at most, a document its bytes): what a server reserves against a
    /// spending cap for it.
    pub fn estimated_text_bytes(&self) -> usize {
        match self {
            // Claude counts about (width × height) / 750 tokens for an image, at most about
            // 1,600 once Bedrock scales it down; a document's bytes stand for its text.
            Attachment::Image { .. } => 4800,
            Attachment::Document { bytes, .. } => bytes.len(),
        }
    }

    /// True for an image.
    pub fn is_image(&self) -> bool {
        matches!(self, Attachment::Image { .. })
    }

    /// A short description: `report.pdf (pdf, 120 KB)`, `image (png, 1200×800, 340 KB)`.
    pub fn describe(&self) -> String {
        let kb = self.len().div_ceil(1000);
        match self {
            Attachment::Image { format, bytes } => {
                let size = imagesize::blob_size(bytes)
                    .map(|s| format!("{}×{}, ", s.width, s.height))
                    .unwrap_or_default();
                format!("image ({format:?}, {size}{kb} KB)").to_lowercase()
            }
            Attachment::Document { format, name, .. } => {
                format!("{name} ({}, {kb} KB)", format!("{format:?}").to_lowercase())
            }
        }
    }

    fn check(&self, name: &str) -> Result<()> {
        match self {
            Attachment::Image { bytes, .. } => {
                if bytes.len() > MAX_IMAGE_BYTES {
                    return Err(too_large(name, bytes.len(), MAX_IMAGE_BYTES));
                }
                let size = imagesize::blob_size(bytes).map_err(|_| {
                    Error::invalid_input(format!(
                        "{name:?} is a damaged image: its size cannot be read"
                    ))
                })?;
                if size.width > MAX_IMAGE_SIDE || size.height > MAX_IMAGE_SIDE {
                    return Err(Error::invalid_input(format!(
                        "{name:?} is {}×{} pixels; Bedrock takes images up to \
                         {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE}: scale it down and attach it again",
                        size.width, size.height
                    )));
                }
            }
            Attachment::Document { bytes, .. } => {
                if bytes.len() > MAX_DOCUMENT_BYTES {
                    return Err(too_large(name, bytes.len(), MAX_DOCUMENT_BYTES));
                }
                if bytes.is_empty() {
                    return Err(Error::invalid_input(format!("{name:?} is empty")));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Megabytes of bytes help nobody in a debug print.
        f.write_str(&self.describe())
    }
}

/// Checks the attachments of one message against Bedrock's per-message limits.
pub(crate) fn check_message_attachments(
    images: usize,
    documents: usize,
    has_text: bool,
) -> Result<()> {
    if images > MAX_IMAGES_PER_MESSAGE {
        return Err(Error::invalid_input(format!(
            "a message may carry at most {MAX_IMAGES_PER_MESSAGE} images, not {images}"
        )));
    }
    if documents > MAX_DOCUMENTS_PER_MESSAGE {
        return Err(Error::invalid_input(format!(
            "a message may carry at most {MAX_DOCUMENTS_PER_MESSAGE} documents, not {documents}"
        )));
    }
    if documents > 0 && !has_text {
        return Err(Error::invalid_input(
            "a message with a document needs text too: say what to do with it",
        ));
    }
    Ok(())
}

/// A document name Bedrock accepts, from a file name: its extension dropped, and only letters,
/// digits, single spaces, hyphens, parentheses and square brackets kept (`John's report #2.pdf`
/// becomes `Johns report 2`, `résumé.docx` becomes `r sum`), so a file is never refused for its
/// name. An empty result becomes `document`.
pub fn document_name(file_name: &str) -> String {
    let stem = Path::new(file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::with_capacity(stem.len());
    for c in stem.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']');
        if keep {
            name.push(c);
        } else if (c.is_whitespace() || c == '_' || c == '.' || !c.is_ascii())
            && !name.ends_with(' ')
        {
            name.push(' ');
        }
    }
    let name = name.trim().to_string();
    if name.is_empty() {
        "document".to_string()
    } else {
        name
    }
}

enum Kind {
    Image(ImageFormat),
    Document(DocumentFormat),
}

/// The format, from the content first (magic numbers), then the extension where the content
/// cannot tell (a ZIP is DOCX or XLSX, an OLE file DOC or XLS, text CSV, HTML, MD or TXT).
fn sniff(bytes: &[u8], extension: &str) -> Option<Kind> {
    use DocumentFormat as D;
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Kind::Image(ImageFormat::Png));
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Kind::Image(ImageFormat::Jpeg));
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some(Kind::Image(ImageFormat::Gif));
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(Kind::Image(ImageFormat::Webp));
    }
    if bytes.starts_with(b"%PDF-") {
        return Some(Kind::Document(D::Pdf));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return match extension {
            "docx" => Some(Kind::Document(D::Docx)),
            "xlsx" => Some(Kind::Document(D::Xlsx)),
            _ => None,
        };
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return match extension {
            "doc" => Some(Kind::Document(D::Doc)),
            "xls" => Some(Kind::Document(D::Xls)),
            _ => None,
        };
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if text.contains('\0') {
        return None;
    }
    Some(Kind::Document(match extension {
        "csv" => D::Csv,
        "html" | "htm" => D::Html,
        "md" | "markdown" => D::Md,
        _ => D::Txt,
    }))
}

fn read_error(path: &Path, error: &std::io::Error) -> Error {
    let reason = match error.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "cannot be read: permission denied".to_string(),
        _ => format!("cannot be read ({error})"),
    };
    Error::invalid_input(format!("{} {reason}", path.display()))
}

fn too_large(name: &str, size: usize, limit: usize) -> Error {
    Error::invalid_input(format!(
        "{name} is {:.2} MB; Bedrock takes at most {:.2} MB for this kind of attachment",
        size as f64 / 1e6,
        limit as f64 / 1e6
    ))
}

/// Bytes as base64 text in JSON (saved conversations, the wire format).
pub(crate) mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid 1×1 PNG.
    pub(crate) const PIXEL_PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn formats_come_from_the_content() {
        let png = Attachment::from_bytes(PIXEL_PNG.to_vec(), "photo.jpg").unwrap();
        assert!(matches!(
            png,
            Attachment::Image {
                format: ImageFormat::Png,
                ..
            }
        ));
        let pdf = Attachment::from_bytes(b"%PDF-1.7 ...".to_vec(), "report.txt").unwrap();
        assert!(matches!(
            pdf,
            Attachment::Document {
                format: DocumentFormat::Pdf,
                ..
            }
        ));
        let md = Attachment::from_bytes(b"# Title".to_vec(), "notes.md").unwrap();
        assert!(matches!(
            md,
            Attachment::Document {
                format: DocumentFormat::Md,
                ..
            }
        ));
        let zip = Attachment::from_bytes(b"PK\x03\x04rest".to_vec(), "sheet.xlsx").unwrap();
        assert!(matches!(
            zip,
            Attachment::Document {
                format: DocumentFormat::Xlsx,
                ..
            }
        ));
        assert!(Attachment::from_bytes(b"PK\x03\x04rest".to_vec(), "archive.zip").is_err());
        assert!(Attachment::from_bytes(vec![0, 1, 2, 0xFF], "blob.bin").is_err());
    }

    #[test]
    fn limits_are_checked_with_clear_errors() {
        let mut huge = PIXEL_PNG.to_vec();
        huge.resize(MAX_IMAGE_BYTES + 1, 0);
        let error = Attachment::from_bytes(huge, "big.png").unwrap_err();
        assert!(error.to_string().contains("3.75 MB"), "{error}");
        // A PNG header claiming 9000×10 pixels.
        let mut wide = PIXEL_PNG.to_vec();
        wide[16..20].copy_from_slice(&9000u32.to_be_bytes());
        let error = Attachment::from_bytes(wide, "wide.png").unwrap_err();
        assert!(error.to_string().contains("9000×1"), "{error}");
        assert!(check_message_attachments(21, 0, true).is_err());
        assert!(check_message_attachments(0, 6, true).is_err());
        assert!(check_message_attachments(0, 1, false).is_err());
        assert!(check_message_attachments(20, 5, true).is_ok());
    }

    #[test]
    fn document_names_are_made_acceptable() {
        assert_eq!(document_name("John's report #2.pdf"), "Johns report 2");
        assert_eq!(document_name("résumé.docx"), "r sum");
        assert_eq!(
            document_name("a  b__c (v2) [final].md"),
            "a b c (v2) [final]"
        );
        assert_eq!(document_name("....txt"), "document");
    }

    #[test]
    fn attachments_round_trip_through_json_as_base64() {
        let png = Attachment::from_bytes(PIXEL_PNG.to_vec(), "p.png").unwrap();
        let json = serde_json::to_value(&png).unwrap();
        assert_eq!(json["image"]["format"], "png");
        assert!(
            json["image"]["bytes"]
                .as_str()
                .unwrap()
                .starts_with("iVBOR")
        );
        assert_eq!(serde_json::from_value::<Attachment>(json).unwrap(), png);
    }
}
