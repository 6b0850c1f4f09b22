/// The templates built into the binary, by file name (generated from `Templates/`).
enum BuiltInTemplates {
    static let all: [String: String] = [
        "activation.en.html": String(decoding: PackageResources.activation_en_html, as: UTF8.self),
        "activation.en.txt": String(decoding: PackageResources.activation_en_txt, as: UTF8.self),
        "activation.es.html": String(decoding: PackageResources.activation_es_html, as: UTF8.self),
        "activation.es.txt": String(decoding: PackageResources.activation_es_txt, as: UTF8.self),
        "email-change.en.html": String(decoding: PackageResources.email_change_en_html, as: UTF8.self),
        "email-change.en.txt": String(decoding: PackageResources.email_change_en_txt, as: UTF8.self),
        "email-change.es.html": String(decoding: PackageResources.email_change_es_html, as: UTF8.self),
        "email-change.es.txt": String(decoding: PackageResources.email_change_es_txt, as: UTF8.self),
        "email-changed.en.html": String(decoding: PackageResources.email_changed_en_html, as: UTF8.self),
        "email-changed.en.txt": String(decoding: PackageResources.email_changed_en_txt, as: UTF8.self),
        "email-changed.es.html": String(decoding: PackageResources.email_changed_es_html, as: UTF8.self),
        "email-changed.es.txt": String(decoding: PackageResources.email_changed_es_txt, as: UTF8.self),
        "email-changed-notice.en.html": String(decoding: PackageResources.email_changed_notice_en_html, as: UTF8.self),
        "email-changed-notice.en.txt": String(decoding: PackageResources.email_changed_notice_en_txt, as: UTF8.self),
        "email-changed-notice.es.html": String(decoding: PackageResources.email_changed_notice_es_html, as: UTF8.self),
        "email-changed-notice.es.txt": String(decoding: PackageResources.email_changed_notice_es_txt, as: UTF8.self),
        "forgotten-password.en.html": String(decoding: PackageResources.forgotten_password_en_html, as: UTF8.self),
        "forgotten-password.en.txt": String(decoding: PackageResources.forgotten_password_en_txt, as: UTF8.self),
        "forgotten-password.es.html": String(decoding: PackageResources.forgotten_password_es_html, as: UTF8.self),
        "forgotten-password.es.txt": String(decoding: PackageResources.forgotten_password_es_txt, as: UTF8.self),
        "invitation.en.html": String(decoding: PackageResources.invitation_en_html, as: UTF8.self),
        "invitation.en.txt": String(decoding: PackageResources.invitation_en_txt, as: UTF8.self),
        "invitation.es.html": String(decoding: PackageResources.invitation_es_html, as: UTF8.self),
        "invitation.es.txt": String(decoding: PackageResources.invitation_es_txt, as: UTF8.self),
    ]
}
