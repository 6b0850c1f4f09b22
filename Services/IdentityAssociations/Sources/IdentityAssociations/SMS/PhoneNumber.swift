/// A phone number in the form Matrix stores it: the MSISDN, digits only, country code
/// first (`447700900000`), and a readable international form (`+44 7700900000`).
struct PhoneNumber: Sendable, Equatable {
    let countryCode: String
    let national: String

    var msisdn: String { countryCode + national }
    var international: String { "+\(countryCode) \(national)" }

    /// Reads what a client sends: `phone_number` in national form with a two-letter
    /// `country`, or in international form (`+44…`, `0044…`) with any country. Spaces,
    /// dots, dashes and brackets are ignored; a national trunk `0` is dropped.
    static func parse(country: String, number: String) -> PhoneNumber? {
        let trimmed = number.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 40 else { return nil }
        var digits = ""
        for (index, character) in trimmed.enumerated() {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if character == "+", index == 0 {
                digits.append("+")
            } else if !" .-()/".contains(character) {
                return nil
            }
        }
        if digits.hasPrefix("00") { digits = "+" + digits.dropFirst(2) }
        if digits.hasPrefix("+") {
            let all = digits.dropFirst()
            for length in 1...3 where all.count > length {
                let code = String(all.prefix(length))
                if callingCodes.contains(code) { return make(code: code, national: String(all.dropFirst(length))) }
            }
            return nil
        }
        guard let code = countries[country.uppercased()] else { return nil }
        var national = Substring(digits)
        // Italy keeps its leading zero; elsewhere a leading 0 is the trunk prefix.
        if national.hasPrefix("0"), code != "39" { national = national.dropFirst() }
        return make(code: code, national: String(national))
    }

    private static func make(code: String, national: String) -> PhoneNumber? {
        guard (4...14).contains(national.count), code.count + national.count <= 15, national.first != "0" || code == "39" else { return nil }
        return PhoneNumber(countryCode: code, national: national)
    }

    /// ITU-T E.164 country calling codes by ISO 3166-1 alpha-2 code.
    static let countries: [String: String] = {
        let table = """
            AD376 AE971 AF93 AG1 AI1 AL355 AM374 AO244 AR54 AS1 AT43 AU61 AW297 AZ994 BA387 BB1 BD880 BE32 BF226 BG359 BH973
            BI257 BJ229 BM1 BN673 BO591 BR55 BS1 BT975 BW267 BY375 BZ501 CA1 CD243 CF236 CG242 CH41 CI225 CK682 CL56 CM237 CN86
            CO57 CR506 CU53 CV238 CW599 CY357 CZ420 DE49 DJ253 DK45 DM1 DO1 DZ213 EC593 EE372 EG20 ER291 ES34 ET251 FI358 FJ679
            FM691 FO298 FR33 GA241 GB44 GD1 GE995 GF594 GG44 GH233 GI350 GL299 GM220 GN224 GP590 GQ240 GR30 GT502 GU1 GW245 GY592
            HK852 HN504 HR385 HT509 HU36 ID62 IE353 IL972 IM44 IN91 IQ964 IR98 IS354 IT39 JE44 JM1 JO962 JP81 KE254 KG996 KH855
            KI686 KM269 KN1 KP850 KR82 KW965 KY1 KZ7 LA856 LB961 LC1 LI423 LK94 LR231 LS266 LT370 LU352 LV371 LY218 MA212 MC377
            MD373 ME382 MG261 MH692 MK389 ML223 MM95 MN976 MO853 MP1 MQ596 MR222 MS1 MT356 MU230 MV960 MW265 MX52 MY60 MZ258
            NA264 NC687 NE227 NG234 NI505 NL31 NO47 NP977 NR674 NU683 NZ64 OM968 PA507 PE51 PF689 PG675 PH63 PK92 PL48 PM508 PR1
            PS970 PT351 PW680 PY595 QA974 RE262 RO40 RS381 RU7 RW250 SA966 SB677 SC248 SD249 SE46 SG65 SI386 SK421 SL232 SM378
            SN221 SO252 SR597 SS211 ST239 SV503 SX1 SY963 SZ268 TC1 TD235 TG228 TH66 TJ992 TL670 TM993 TN216 TO676 TR90 TT1 TV688
            TW886 TZ255 UA380 UG256 US1 UY598 UZ998 VA39 VC1 VE58 VG1 VI1 VN84 VU678 WF681 WS685 XK383 YE967 YT262 ZA27 ZM260 ZW263
            """
        var result: [String: String] = [:]
        for entry in table.split(whereSeparator: { $0 == " " || $0.isNewline }) {
            result[String(entry.prefix(2))] = String(entry.dropFirst(2))
        }
        return result
    }()

    static let callingCodes = Set(countries.values)
}
