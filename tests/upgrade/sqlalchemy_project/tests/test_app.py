import os
import tempfile
import unittest

from app.listing import names
from app.reflection import table_names
from app.schema import make_engine
from app.writes import add_user


class AppTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.engine = make_engine("sqlite:///" + os.path.join(self.dir, "app.db"))

    def tearDown(self):
        self.engine.dispose()

    def test_written_users_are_listed(self):
        add_user(self.engine, "ada")
        add_user(self.engine, "bob")
        self.assertEqual(names(self.engine), ["ada", "bob"])

    def test_reflection(self):
        self.assertEqual(table_names(self.engine), ["users"])


if __name__ == "__main__":
    unittest.main()
