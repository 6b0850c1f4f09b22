import IdentityAssociations
import SuiteHTTP

await SuiteCommand<IdentityAssociationsService>.runMain()
