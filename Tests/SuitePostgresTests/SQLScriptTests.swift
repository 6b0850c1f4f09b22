import Testing

@testable import SuitePostgres

@Suite struct SQLScriptTests {
    @Test func splitsOnSemicolons() {
        #expect(SQLScript.statements("CREATE TABLE a (x int);\nCREATE TABLE b (y int);") == [
            "CREATE TABLE a (x int)", "CREATE TABLE b (y int)",
        ])
    }

    @Test func keepsSemicolonsInsideStringsIdentifiersAndComments() {
        let script = """
            INSERT INTO t VALUES ('a;b', 'it''s; fine');
            CREATE TABLE "odd;name" (x int); -- trailing; comment
            /* block; /* nested; */ still; */ SELECT 1;
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 3)
        #expect(statements[0] == "INSERT INTO t VALUES ('a;b', 'it''s; fine')")
        #expect(statements[1] == #"CREATE TABLE "odd;name" (x int)"#)
        #expect(statements[2].hasSuffix("SELECT 1"))
    }

    @Test func keepsDollarQuotedBodiesWhole() {
        let script = """
            DO $$ BEGIN PERFORM 1; PERFORM 2; END $$;
            CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            SELECT $1;
            """
        let statements = SQLScript.statements(script)
        #expect(statements == [
            "DO $$ BEGIN PERFORM 1; PERFORM 2; END $$",
            "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
            "SELECT $1",
        ])
    }

    @Test func dropsEmptyAndCommentOnlyPieces() {
        #expect(SQLScript.statements("-- only a comment\n;;  \n") == [])
        #expect(SQLScript.statements("-- heading\nSELECT 1") == ["-- heading\nSELECT 1"])
    }
}
