import OIDCVault
import SuiteHTTP

await SuiteCommand<OIDCVaultService>.runMain()
