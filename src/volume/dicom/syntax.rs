//! The transfer syntaxes Loupe reads, and which decoder reads each: the one
//! table behind decoding, refusals and the list in docs/guide/volumes-and-painting.md.

/// How a transfer syntax's pixel data is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoder {
    /// Uncompressed samples (dicom-rs parses them; deflate is undone by its parser).
    Native,
    /// JPEG baseline, extended and lossless: libjpeg-turbo 3.
    Jpeg,
    /// RLE Lossless: Loupe's decoder (`rle`), 8-, 16- and 32-bit.
    Rle,
    /// JPEG-LS, JPEG 2000, encapsulated uncompressed: dicom-rs's decoders
    /// (CharLS, openjp2).
    DicomRs,
}

/// `(UID, name, decoder)` for every transfer syntax Loupe decodes.
pub const TRANSFER_SYNTAXES: &[(&str, &str, Decoder)] = &[
    (
        "1.2.840.10008.1.2",
        "Implicit VR Little Endian",
        Decoder::Native,
    ),
    (
        "1.2.840.10008.1.2.1",
        "Explicit VR Little Endian",
        Decoder::Native,
    ),
    (
        "1.2.840.10008.1.2.2",
        "Explicit VR Big Endian",
        Decoder::Native,
    ),
    (
        "1.2.840.10008.1.2.1.99",
        "Deflated Explicit VR Little Endian",
        Decoder::Native,
    ),
    (
        "1.2.840.10008.1.2.1.98",
        "Encapsulated Uncompressed Explicit VR Little Endian",
        Decoder::DicomRs,
    ),
    ("1.2.840.10008.1.2.5", "RLE Lossless", Decoder::Rle),
    (
        "1.2.840.10008.1.2.4.50",
        "JPEG Baseline (Process 1), 8-bit",
        Decoder::Jpeg,
    ),
    (
        "1.2.840.10008.1.2.4.51",
        "JPEG Extended (Process 2 & 4), 8/12-bit",
        Decoder::Jpeg,
    ),
    (
        "1.2.840.10008.1.2.4.57",
        "JPEG Lossless, Non-Hierarchical (Process 14)",
        Decoder::Jpeg,
    ),
    (
        "1.2.840.10008.1.2.4.70",
        "JPEG Lossless, First-Order Prediction (Process 14, SV1)",
        Decoder::Jpeg,
    ),
    (
        "1.2.840.10008.1.2.4.80",
        "JPEG-LS Lossless",
        Decoder::DicomRs,
    ),
    (
        "1.2.840.10008.1.2.4.81",
        "JPEG-LS Near-Lossless",
        Decoder::DicomRs,
    ),
    (
        "1.2.840.10008.1.2.4.90",
        "JPEG 2000 Lossless Only",
        Decoder::DicomRs,
    ),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000", Decoder::DicomRs),
];

/// Explicit VR Big Endian (retired, still found in old archives).
pub const EXPLICIT_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// The decoder for a transfer syntax, or a refusal naming it.
pub fn decoder(uid: &str) -> Result<Decoder, String> {
    TRANSFER_SYNTAXES
        .iter()
        .find(|(known, _, _)| *known == uid)
        .map(|(_, _, decoder)| *decoder)
        .ok_or_else(|| {
            format!(
                "transfer syntax {uid} ({}) is not one Loupe decodes",
                name(uid)
            )
        })
}

/// Whether a transfer syntax is in Loupe's table or dicom-rs's registry
/// (one of them then says how its data set is encoded).
pub fn is_known(uid: &str) -> bool {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    TRANSFER_SYNTAXES.iter().any(|(known, _, _)| *known == uid)
        || dicom_transfer_syntax_registry::TransferSyntaxRegistry
            .get(uid)
            .is_some()
}

/// A transfer syntax's name: Loupe's table, then dicom-rs's registry.
pub fn name(uid: &str) -> String {
    if let Some((_, name, _)) = TRANSFER_SYNTAXES.iter().find(|(known, _, _)| *known == uid) {
        return (*name).to_string();
    }
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| "unknown".into())
}
