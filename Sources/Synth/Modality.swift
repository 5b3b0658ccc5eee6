/// The MR contrasts `taco synth` acquires, with their tissue intensities and acquisition habits.
public enum Modality: String, Sendable, CaseIterable, Codable {
    case t1w = "T1w", t2w = "T2w", flair = "FLAIR", pdw = "PDw"

    /// Mean intensity of (CSF, GM, WM, lesion) before subject jitter: T1w WM > GM > CSF, T2w CSF > GM > WM,
    /// FLAIR CSF dark with GM > WM, PDw flat; the lesion is bright on T2w and FLAIR, dark on T1w.
    var tissueMeans: (csf: Double, gm: Double, wm: Double, lesion: Double) {
        switch self {
        case .t1w: return (250, 600, 850, 420)
        case .t2w: return (1400, 800, 600, 1300)
        case .flair: return (120, 760, 560, 1150)
        case .pdw: return (900, 820, 700, 950)
        }
    }

    /// (TR, TE, TI) in ms: plausible values per contrast.
    var timing: (tr: Double, te: Double, ti: Double?) {
        switch self {
        case .t1w: return (2300, 2.98, 900)
        case .t2w: return (5000, 95, nil)
        case .flair: return (9000, 120, 2500)
        case .pdw: return (3000, 12, nil)
        }
    }

    /// DICOM ScanningSequence, SequenceVariant, MRAcquisitionType.
    var sequence: (scanning: String, variant: String, acquisition: String) {
        switch self {
        case .t1w: return ("GR\\IR", "SK\\SP\\MP", "3D")
        case .t2w: return ("SE", "SK\\SP\\OSP", "2D")
        case .flair: return ("SE\\IR", "SK\\SP\\MP\\OSP", "2D")
        case .pdw: return ("SE", "SK\\SP", "2D")
        }
    }
}

/// A scanner vendor's naming habits for the series of a study.
enum Vendor: String, CaseIterable, Sendable {
    case siemens, ge, philips

    var manufacturer: String {
        switch self {
        case .siemens: return "SIEMENS"
        case .ge: return "GE MEDICAL SYSTEMS"
        case .philips: return "Philips Medical Systems"
        }
    }

    var model: String {
        switch self {
        case .siemens: return "Prisma"
        case .ge: return "DISCOVERY MR750"
        case .philips: return "Ingenia"
        }
    }

    /// (SeriesDescription, ProtocolName) as this vendor's consoles label the series.
    func names(_ modality: Modality) -> (description: String, protocolName: String) {
        switch (self, modality) {
        case (.siemens, .t1w): return ("t1_mprage_sag_p2_iso", "t1_mprage_sag_p2_iso")
        case (.siemens, .t2w): return ("t2_tse_tra_p2", "t2_tse_tra")
        case (.siemens, .flair): return ("t2_tirm_cor_dark-fluid", "t2_tirm_cor_dark-fluid")
        case (.siemens, .pdw): return ("pd_tse_tra", "pd_tse_tra")
        case (.ge, .t1w): return ("Sag 3D BRAVO", "BRAIN/3D BRAVO")
        case (.ge, .t2w): return ("Ax T2 FSE", "BRAIN/AX T2 FSE")
        case (.ge, .flair): return ("Cor T2 FLAIR", "BRAIN/COR FLAIR")
        case (.ge, .pdw): return ("Ax PD FSE", "BRAIN/AX PD")
        case (.philips, .t1w): return ("T1W_3D_TFE SENSE", "T1W_3D_TFE")
        case (.philips, .t2w): return ("T2W_TSE SENSE", "T2W_TSE")
        case (.philips, .flair): return ("FLAIR_longTR SENSE", "FLAIR_longTR")
        case (.philips, .pdw): return ("PDW_TSE SENSE", "PDW_TSE")
        }
    }

    var localizerName: String {
        switch self {
        case .siemens: return "localizer"
        case .ge: return "3Plane Loc SSFSE"
        case .philips: return "SURVEY"
        }
    }
}
