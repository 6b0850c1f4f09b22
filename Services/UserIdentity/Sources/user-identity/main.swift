import UserIdentity
import SuiteHTTP

await SuiteCommand<UserIdentityService>.runMain()
