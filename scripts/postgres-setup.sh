#!/usr/bin/env bash
# Sets up a PostgreSQL database for a Loupe team project.
#
#   scripts/postgres-setup.sh DATABASE ADMIN
#
# Run it once, as a PostgreSQL superuser, with libpq's usual variables saying
# where the server is (PGHOST, PGPORT, PGUSER, PGPASSWORD or ~/.pgpass). It
# creates the login ADMIN (LOGIN CREATEROLE, not a superuser; password from
# LOUPE_ADMIN_PASSWORD, else asked for) and the database DATABASE owned by
# ADMIN, which nobody else may connect to until ADMIN adds them. Then, on any
# workstation:
#
#   loupe project init --postgres postgres://ADMIN@HOST/DATABASE --images /mnt/share/images --schema rop-exam
#   loupe project user postgres://ADMIN@HOST/DATABASE ana --role annotator
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DATABASE ADMIN" >&2
  exit 2
fi
database=$1
admin=$2
case "$database$admin" in
  *[!A-Za-z0-9_]*) echo "DATABASE and ADMIN: letters, digits and _ only" >&2; exit 2 ;;
esac
password=${LOUPE_ADMIN_PASSWORD:-}
if [ -z "$password" ]; then
  read -r -s -p "password for $admin: " password
  echo >&2
fi
[ -n "$password" ] || { echo "an empty password is refused" >&2; exit 2; }

# psql quotes the variables itself (:"name" as an identifier, :'name' as a literal).
psql -X -v ON_ERROR_STOP=1 -q -d postgres -v admin="$admin" -v pw="$password" -v db="$database" <<'SQL'
CREATE ROLE :"admin" LOGIN CREATEROLE PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"admin" ENCODING 'UTF8';
REVOKE CONNECT ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"admin";
SQL
echo "database $database is ready; its admin is $admin"
