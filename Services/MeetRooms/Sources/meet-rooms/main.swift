import MeetRooms
import SuiteHTTP

await SuiteCommand<MeetRoomsService>.runMain()
